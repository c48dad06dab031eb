// ESM entry: named exports of the one CommonJS build (no dual-package state).
import api from '../dist/index.cjs';

export const {
  cluster, close, ClientGenerator, APIClientBase, ClusterClient, defaultTranscode,
  LeaderlinkError, InvalidOptionError, PortOccupiedError, NoLeaderError, ConnectTimeoutError,
  ChannelNotFoundError, ResponseTimeoutError, ConnectionClosedError, ClientClosedError,
  MethodNotAllowedError, LeaderTimeoutError, SubscribeTimeoutError, ProtocolError, CodecError,
  AuthenticationError, SlowConsumerError, ForeignLeaderError,
  serializeError, deserializeError,
} = api;
export default api.cluster;
