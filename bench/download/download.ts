/**
 * bench/download: met's download path (download/http.ts fetchFile: streaming writes at positions,
 * fsync at each durable offset, Range-ready) against `curl -o` fetching the same file from the same
 * loopback server (a separate process) in the same run. Issue target: met >= 80% of curl.
 *   node --import tsx bench/download/download.ts [--mib 256] [--rounds 3]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchFile } from '../../download/http';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const mib = arg('mib', 256);
const rounds = arg('rounds', 3);
const dir = mkdtempSync(join(tmpdir(), 'met-bench-download-'));
const server = spawn(process.execPath, [
  '-e',
  `const http = require('http'); const fs = require('fs');
   const size = ${mib} * 1024 * 1024; const block = Buffer.alloc(1 << 20, 7);
   http.createServer((req, res) => {
     res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
     let sent = 0;
     const pump = () => { while (sent < size) { sent += block.length; if (!res.write(block)) return res.once('drain', pump); } res.end(); };
     pump();
   }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`,
]);
const port = await new Promise<number>((ok) => server.stdout.once('data', (d) => ok(Number(String(d).trim()))));
const url = `http://127.0.0.1:${port}/file.bin`;
try {
  const times = { curl: [] as number[], met: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    // Alternate the order so neither side always gets the warmer cache.
    for (const who of r % 2 ? (['met', 'curl'] as const) : (['curl', 'met'] as const)) {
      const dest = join(dir, `${who}-${r}.bin`);
      const t0 = performance.now();
      if (who === 'curl') execFileSync('curl', ['-s', '-o', dest, url]);
      else await fetchFile({ url, dest, onProgress: () => {} });
      times[who].push((performance.now() - t0) / 1000);
      const size = statSync(who === 'curl' ? dest : `${dest}.part`).size;
      if (size !== mib * 1024 * 1024) throw new Error(`${who} got ${size} bytes`);
      rmSync(dest, { force: true });
      rmSync(`${dest}.part`, { force: true });
    }
  }
  const best = (xs: number[]) => Math.min(...xs);
  const report = {
    bench: 'download',
    mib,
    rounds,
    curlMiBps: Math.round(mib / best(times.curl)),
    metMiBps: Math.round(mib / best(times.met)),
    ratioMetToCurl: Number((best(times.curl) / best(times.met)).toFixed(3)),
  };
  console.table([report]);
  mkdirSync('bench/out', { recursive: true });
  writeFileSync(`bench/out/download-${Date.now()}.json`, JSON.stringify(report, null, 2));
} finally {
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
