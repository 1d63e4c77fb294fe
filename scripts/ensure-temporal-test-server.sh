#!/usr/bin/env bash
# Installs Temporal's time-skipping test server (the Java io.temporal:temporal-test-server, pinned)
# into git-ignored .tools/temporal-test-server/ from Maven Central, with a launcher script that
# @temporalio/testing starts as an existing executable. The SDK's own default downloads a native
# build from temporal.download at run time, which an offline CI cannot reach; Maven is a package
# registry. Needs java (17+) and mvn. Idempotent; prints the launcher's path.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.31.0
DIR=.tools/temporal-test-server
LAUNCHER="$DIR/bin/temporal-test-server"
if [ ! -x "$LAUNCHER" ] || [ "$(cat "$DIR/.version" 2>/dev/null)" != "$VERSION" ]; then
  command -v java >/dev/null || { echo "java is needed for Temporal's time-skipping test server (apt-get install default-jre-headless)" >&2; exit 1; }
  command -v mvn >/dev/null || { echo "mvn is needed to fetch Temporal's time-skipping test server (apt-get install maven)" >&2; exit 1; }
  rm -rf "$DIR" && mkdir -p "$DIR/bin"
  cat > "$DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>met.tools</groupId><artifactId>temporal-test-server</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
POM
  mvn -q -B -f "$DIR/pom.xml" dependency:copy-dependencies -DoutputDirectory=lib >&2
  # The SDK passes the port (and any extra arguments) to the executable.
  cat > "$LAUNCHER" <<'SH'
#!/usr/bin/env bash
exec java -Xmx512m -cp "$(dirname "$0")/../lib/*" io.temporal.testserver.TestServer "$@"
SH
  chmod +x "$LAUNCHER"
  echo "$VERSION" > "$DIR/.version"
fi
echo "$PWD/$LAUNCHER"
