import type { InvokeHeaders } from '../protocol/messages.js';

/** A subscription listener as users pass it. */
export type Listener = (value: any) => void;

/** Which real-client methods this channel delegated, by kind (from the generator's descriptors). */
export interface MethodTable {
  /** Methods a follower may call by name: invoke, invokeOneway and publish targets. Nothing else. */
  callable: ReadonlySet<string>;
  /** invoke methods the user marked idempotent: a call the leader's death cut off is sent again to the next leader. */
  idempotent: ReadonlySet<string>;
  subscribe?: string;
  unSubscribe?: string;
  publish?: string;
  close?: string;
}

/** Traffic counters of a role: cheap integers bumped on the hot path. */
export interface TrafficCounters {
  /** Leader: invokes served for followers. Follower: invokes sent to the leader. */
  invokes: number;
  /** Of those, how many failed (error answer, refusal, timeout, lost connection). */
  errors: number;
  /** Leader: results dropped because the caller had given up. Follower: ResponseTimeoutErrors. */
  timeouts: number;
  /** Subscription values pushed (leader: to followers; follower: received). */
  pushes: number;
  bytesIn: number;
  bytesOut: number;
}

/** What a role can tell about itself (client.stats(), `leaderlink status`). */
export interface RoleStats {
  /** Subscription keys with subscriber counts (leader/single: all subscribers; follower: local listeners) and the age of the last value. */
  subscriptions: Array<{ key: string; subscribers: number; lastValueAgeMs: number | null }>;
  /** Leader: the registered followers. */
  followers?: Array<{ pid: number | undefined; connectedSince: number; inFlight: number }>;
  /** Leader: connections to its port that have not authenticated (open now, evicted past the cap, refused). */
  unauthenticated?: { open: number; evicted: number; refused: number };
  /** Follower: the leader's pid and the calls waiting for it. */
  leaderPid?: number | undefined;
  inFlight?: number;
  traffic: TrafficCounters;
  /** Leader: the planned handover its close() runs or ran (durationMs undefined while it runs). */
  handover?: HandoverStats;
}

/** A leader's planned handover (see Leader.close). */
export interface HandoverStats {
  startedAt: number;
  /** Until the port was released; undefined while handing over. */
  durationMs: number | undefined;
  /** The follower that took over, if one was ready. */
  successorPid: number | undefined;
}

export function emptyTraffic(): TrafficCounters {
  return { invokes: 0, errors: 0, timeouts: 0, pushes: 0, bytesIn: 0, bytesOut: 0 };
}

/** Adds every counter of `more` into `into`; returns `into`. */
export function addTraffic(into: TrafficCounters, more: TrafficCounters): TrafficCounters {
  for (const k of Object.keys(into) as Array<keyof TrafficCounters>) into[k] += more[k];
  return into;
}

/** What a wrapper talks to: a leader, a follower or a single-mode client. */
export interface Role {
  readonly kind: 'leader' | 'follower' | 'single';
  /** Resolves when calls can be served (leader: real client ready; follower: registered). */
  ready(): Promise<void>;
  subscribe(key: string, reg: unknown, listener: Listener): void;
  unSubscribe(key: string, reg: unknown, listener?: Listener): void;
  publish(reg: unknown): void;
  /**
   * `timeout` overrides responseTimeout for this call (what is left of it after a failover wait).
   * Never throws: every failure is a rejection (the wrapper returns this promise as is).
   * `headers` (traced calls only): trace context a follower sends with the call; in-process roles ignore it.
   */
  invoke(method: string, args: unknown[], oneway: boolean, timeout?: number, headers?: InvokeHeaders): Promise<unknown>;
  /** Closes this role (and the real client it owns); idempotent. */
  close(): Promise<void>;
  /** Called once if the role dies without close(): follower lost its leader, server died. */
  onLost(fn: (err?: Error) => void): void;
  /** Everything at once, for client.stats() and `leaderlink status` (walks every subscription key). */
  stats(): RoleStats;
  /** Just the traffic counters (cheap: what a failover adds up). */
  traffic(): TrafficCounters;
  /** Follower: the leader's pid once registered. */
  readonly leaderPid: number | undefined;
  /** The real client, where this process owns one. */
  readonly realClient: object | undefined;
}
