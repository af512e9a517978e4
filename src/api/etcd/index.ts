/** The etcd v3 gRPC API layer: server, backend port, errors, and the protobuf definitions. */
export { EtcdApiServer, grpcOverheadBytesDefault, shutdownGraceMsDefault } from "./server.js";
export type { ApiLogger, EtcdApiOptions, ListenAddress } from "./server.js";
export { hasEvents } from "./backend.js";
export type {
  EtcdBackend,
  EventsBackend,
  HeaderInfo,
  LeaseGrantResult,
  LeaseKeepAliveResult,
  LeaseTimeToLiveResult,
  MemberInfo,
  StatusInfo,
} from "./backend.js";
export { ApiError, ConcurrencyError, GrpcStatusError, internalErrorMessage, toGrpcFailure } from "./errors.js";
export type { ApiErrorCode, ConcurrencyErrorCode, GrpcFailure } from "./errors.js";
export { keepAliveQueueMax } from "./event-services.js";
export { sessionTtlSecondsDefault } from "./concurrency.js";
export { watchChannelQueueMax } from "./watch-channel.js";
export { RequestCounter, grpcCodeName } from "./observer.js";
export type { RequestEvent, RequestObserver } from "./observer.js";
export { checkRequest, isProposed, isReadOnlyTxn } from "./checks.js";
export type { RequestLimits } from "./checks.js";
export { etcdPackageDefinition, etcdService, protoDir, protoFiles, protoLoaderOptions } from "./protos.js";
export type { EtcdServiceName } from "./protos.js";
