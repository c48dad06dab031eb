/**
 * Where a call's time went, as words and fields: a ResponseTimeoutError reads like a diagnosis
 * ("getData timed out after 3000 ms: the leader (pid 123) has been running it in its real client
 * for 2950 ms") and carries the same facts as fields users can log or switch on. Pure: the
 * follower and the wrapper gather the facts, this file only words them.
 */
import { channelMessage, ResponseTimeoutError } from '../errors.js';

/** The phase a call was in when it failed. */
export type CallPhase =
  /** No leader to send it to: an election was in progress (failover) and none took over in time. */
  | 'waiting-for-leader'
  /** Not even written out: its bytes were still queued at this follower (the leader does not read). */
  | 'queued-at-follower'
  /** Written to the leader, which had not started it (stopped, event loop blocked, or not ready). */
  | 'sent'
  /** The leader's real client was working on it. */
  | 'running';

/** The fields a call error carries (own enumerable properties of the error). */
export interface CallDiagnosis {
  phase: CallPhase;
  channel: string;
  method: string;
  /** Time from the call to its failure. */
  elapsedMs: number;
  leaderPid?: number | undefined;
  /** phase 'running': how long the leader's real client had been working on it (at most). */
  runningMs?: number;
  /** Time since anything at all came from the leader. */
  leaderSilentMs?: number;
}

/** What the follower knows about a call of its that timed out. */
export interface FollowerTimeoutFacts {
  channel: string;
  method: string;
  timeout: number;
  elapsedMs: number;
  leaderPid: number | undefined;
  /** The leader answers call_status (older leaders do not). */
  statusSupported: boolean;
  /** The leader was asked about this call (it was still pending at 2/3 of its timeout). */
  probed: boolean;
  /** The leader's last call_status answer said it had received this call. */
  received: boolean;
  /** ...and that its real client was not ready yet. */
  leaderNotReady: boolean;
  /** Bytes this follower has not written to the socket yet. */
  unsentBytes: number;
  leaderSilentMs: number;
  /** How late this process's own timer judged the call (its event loop was blocked). */
  lateMs: number;
}

const STALL_NOTE_MS = 1000;

function pid(p: number | undefined): string {
  return p === undefined ? 'the leader' : `the leader (pid ${p})`;
}

/** The message and fields of a follower's ResponseTimeoutError. */
export function diagnoseFollowerTimeout(f: FollowerTimeoutFacts): { message: string; diagnosis: CallDiagnosis } {
  const base = { channel: f.channel, method: f.method, elapsedMs: f.elapsedMs, leaderPid: f.leaderPid, leaderSilentMs: f.leaderSilentMs };
  let phase: CallPhase;
  let why: string;
  let runningMs: number | undefined;
  if (f.received && !f.leaderNotReady) {
    phase = 'running';
    runningMs = f.elapsedMs;
    why = `${pid(f.leaderPid)} has been running it in its real client for ${runningMs} ms (it answers other frames: the real client or its upstream is slow)`;
  } else if (f.received) {
    phase = 'sent';
    why = `${pid(f.leaderPid)} received it but its real client is not ready yet`;
  } else if (f.unsentBytes > 0) {
    phase = 'queued-at-follower';
    why = `it is still queued at this follower (${f.unsentBytes} bytes unsent): ${pid(f.leaderPid)} is not reading its socket`;
  } else if (f.statusSupported && f.probed && f.leaderSilentMs >= f.timeout / 3) {
    phase = 'sent';
    why = `it was sent but ${pid(f.leaderPid)} never started it: it has sent nothing for ${f.leaderSilentMs} ms and did not answer a status query, so it is stopped (SIGSTOP, a debugger) or its event loop is blocked`;
  } else if (f.statusSupported && f.probed) {
    phase = 'sent';
    why = `it was sent and ${pid(f.leaderPid)} sent something ${f.leaderSilentMs} ms ago but had not answered a status query about it yet: it is overloaded`;
  } else if (f.leaderSilentMs >= f.elapsedMs) {
    phase = 'sent';
    why = `it was sent and ${pid(f.leaderPid)} has sent nothing since (${f.leaderSilentMs} ms): it is stopped or its event loop is blocked`;
  } else {
    phase = 'sent';
    why = `it was sent and ${pid(f.leaderPid)} is alive (it answered other frames ${f.leaderSilentMs} ms ago) but did not answer this call: its real client is probably slow (this leader does not report call progress)`;
  }
  let message = channelMessage(f.channel, `${f.method}() timed out after ${f.elapsedMs} ms (responseTimeout ${f.timeout}): ${why}`);
  if (f.lateMs > STALL_NOTE_MS) message += `; note: this process's own event loop was blocked (its timer ran ${f.lateMs} ms late)`;
  return { message, diagnosis: runningMs === undefined ? { phase, ...base } : { phase, ...base, runningMs } };
}

/** The message and fields of a call that found no leader to send it to within its timeout. */
export function diagnoseNoLeader(channel: string, method: string, elapsedMs: number, port: number, leaderWentAway: boolean): { message: string; diagnosis: CallDiagnosis } {
  const what = leaderWentAway ? 'its leader went away and no new leader took over' : 'no new leader took over';
  return {
    message: channelMessage(channel, `${method}() timed out after ${elapsedMs} ms waiting for a leader (an election was in progress): ${what} on port ${port} (responseTimeout)`),
    diagnosis: { phase: 'waiting-for-leader', channel, method, elapsedMs },
  };
}

/**
 * A follower's timeout of a call that waited for a leader (failover) or was sent again (an
 * idempotent resend) before the attempt that timed out: that attempt had only the time left, so
 * its elapsedMs and message count from the call's start against the responseTimeout the user set
 * (README: elapsedMs is "from the call to its failure"). Other errors are returned as they are.
 */
export function sinceCallStart(err: unknown, startedAt: number, responseTimeout: number): unknown {
  if (!(err instanceof ResponseTimeoutError)) return err;
  const fields = err as ResponseTimeoutError & Partial<CallDiagnosis>;
  if (fields.phase === undefined || fields.phase === 'waiting-for-leader') return err;
  const elapsedMs = Math.max(fields.elapsedMs ?? 0, Date.now() - startedAt);
  const message = err.message.replace(/ timed out after \d+ ms \(responseTimeout \d+\)/, ` timed out after ${elapsedMs} ms (responseTimeout ${responseTimeout})`);
  const { phase, channel, method, leaderPid, runningMs, leaderSilentMs } = fields;
  const diagnosis: Partial<CallDiagnosis> = { phase, channel, method, elapsedMs, leaderPid, leaderSilentMs };
  if (runningMs !== undefined) diagnosis.runningMs = runningMs;
  return withDiagnosis(new ResponseTimeoutError(message), diagnosis);
}

/** Puts the diagnosis fields on an error (own enumerable properties, so they cross the wire and show in logs). */
export function withDiagnosis<E extends Error>(err: E, diagnosis: Partial<CallDiagnosis>): E {
  return Object.assign(err, diagnosis);
}
