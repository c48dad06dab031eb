// The public face of leaderlink: re-exports only.
export { cluster, close, ClientGenerator } from './generator.js';
export type { ClusterClientOf, DataClientClass, DelegateOptions, DelegateTarget, DelegatedMethod, MethodKeys, AutoDelegated } from './generator.js';
export { APIClientBase } from './api-client.js';
export type { APIClientOptions } from './api-client.js';
export { ClusterClient } from './client.js';
export type { ClientStats, ClusterClientEvents, RoleName } from './client.js';
export { CHANNELS } from './diagnostics.js';
export type {
  ChannelContext, ElectionContext, FailoverContext, FollowerContext, HandoverContext, InvokeContext, LeaderLostContext, ServeContext, SubscriptionContext, TraceRole,
} from './diagnostics.js';
export type { InvokeHeaders } from './protocol/messages.js';
export type { RoleStats, TrafficCounters } from './roles/types.js';
export type { ClusterOptions, ResolvedOptions } from './options.js';
export { defaultTranscode } from './codec/value-format.js';
export type { Transcode } from './codec/value-format.js';
export type { Logger } from './logger.js';
export {
  LeaderlinkError, InvalidOptionError, PortOccupiedError, NoLeaderError, ConnectTimeoutError, ChannelNotFoundError,
  ResponseTimeoutError, ConnectionClosedError, ClientClosedError, MethodNotAllowedError, LeaderTimeoutError,
  SubscribeTimeoutError, ProtocolError, AuthenticationError, SlowConsumerError, CodecError, ForeignLeaderError,
  ForeignListenerError,
  ChannelMismatchError,
} from './errors.js';
