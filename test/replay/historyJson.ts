import { createRequire } from 'node:module';
import type { History } from '@temporalio/common/lib/proto-utils';
import proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

/**
 * History <-> proto3 JSON (the format of `temporal workflow show --output json`), for the replay
 * fixtures. Not `historyToJSON`/`historyFromJSON` of @temporalio/common 1.24: as installed here
 * common, proto and worker each get their own nested copy of protobufjs 8 (the top-level one is
 * grpc's protobufjs 7), and common's protojson rejects proto's types ("type must be a Type"). The
 * same conversion, with the protojson of the copy that built the types.
 */
const requireFromProto = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
const { fromJson, toJson } = requireFromProto('protobufjs/ext/protojson') as {
  fromJson(type: unknown, json: unknown, options?: object): unknown;
  toJson(type: unknown, message: unknown): unknown;
};
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');

export function historyToJson(history: History): unknown {
  return toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history));
}

export function historyFromJson(json: unknown): History {
  const loaded = fromJson(historyType, json, { ignoreUnknownFields: true });
  if (loaded === null) throw new TypeError('not a history');
  return loaded as History;
}
