/**
 * Loading of the etcd v3 protobuf definitions in `./proto/` with
 * @grpc/proto-loader, with the one set of options both the server and test
 * clients use:
 * - `keepCase`: field names as in the .proto files (`range_end`, `peerURLs`);
 * - `longs: String`: int64/uint64 decode to decimal strings, never lossy
 *   numbers (see `convert.ts` for the conversions);
 * - `bytes: Buffer`, `enums: Number`, `defaults: true` (absent scalars decode
 *   to their zero value), `oneofs: true` (a oneof's name holds the name of its
 *   present field).
 *
 * The .proto files are read at run time next to this module, so a build that
 * copies the sources elsewhere must copy `proto/` along.
 */
import { fileURLToPath } from "node:url";
import * as protoLoader from "@grpc/proto-loader";
import type { ServiceDefinition } from "@grpc/grpc-js";

/** protoDir is the folder holding the .proto files. */
export const protoDir: string = fileURLToPath(new URL("./proto/", import.meta.url));

/** protoFiles are the files loaded, relative to {@link protoDir}. */
export const protoFiles = ["rpc.proto", "kv.proto", "auth.proto", "v3lock.proto", "v3election.proto"] as const;

/** protoLoaderOptions are the loader options; see the file comment. */
export const protoLoaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
  includeDirs: [protoDir],
};

/** EtcdServiceName names every gRPC service of the etcd v3 API. */
export type EtcdServiceName =
  | "etcdserverpb.KV"
  | "etcdserverpb.Watch"
  | "etcdserverpb.Lease"
  | "etcdserverpb.Cluster"
  | "etcdserverpb.Maintenance"
  | "etcdserverpb.Auth"
  | "v3lockpb.Lock"
  | "v3electionpb.Election";

let loaded: protoLoader.PackageDefinition | undefined;

/** etcdPackageDefinition loads the definitions once and returns them. */
export function etcdPackageDefinition(): protoLoader.PackageDefinition {
  loaded ??= protoLoader.loadSync([...protoFiles], protoLoaderOptions);
  return loaded;
}

/** etcdService returns one service's definition, as grpc-js `Server.addService` and `makeGenericClientConstructor` take it. */
export function etcdService(name: EtcdServiceName): ServiceDefinition {
  const definition = etcdPackageDefinition()[name];
  if (definition === undefined || "format" in definition) throw new Error(`etcd protos: ${name} is not a service`);
  return definition;
}
