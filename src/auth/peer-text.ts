import { AuthenticationError, ChannelNotFoundError, ProtocolError, type LeaderlinkError } from '../errors.js';

/** Longest excerpt of a peer's text quoted in our errors and logs. */
export const EXCERPT_CHARS = 80;

/**
 * A peer-supplied string as we may quote it: at most `max` characters, control and
 * bidirectional-formatting characters replaced by '?', JSON-quoted. An unauthenticated peer
 * chooses these bytes (a 5 MB channel name, "secret rotated: run curl ... | sh", terminal escapes):
 * quoted like this it can neither flood a log nor pass for our own words.
 */
export function excerpt(value: unknown, max = EXCERPT_CHARS): string {
  const text = typeof value === 'string' ? value : value === undefined ? '' : String(value);
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  // eslint-disable-next-line no-control-regex
  return JSON.stringify(cut.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?'));
}

/** Where a refusal came from, for the message we write in its place. */
export interface RefusalContext {
  /** "[leaderlink:Name]" or "[leaderlink status]". */
  prefix: string;
  port: number;
}

/**
 * The error a follower reports when the port holder refused its first frame (registration or
 * status) WITHOUT proving it knows the secret. Every such refusal is unauthenticated (a squatter
 * can send any text), so the error is ours: its class from the peer's code (what a real
 * leaderlink leader sends), its message in our words, the peer's own text only as a short
 * sanitized excerpt.
 */
export function unprovenRefusal(error: unknown, ctx: RefusalContext): LeaderlinkError {
  const e = (error && typeof error === 'object' ? error : {}) as { code?: unknown; message?: unknown };
  const said = `it said ${excerpt(e.message)} (not verified: the port holder did not prove it knows the secret)`;
  const where = `${ctx.prefix} the process holding 127.0.0.1:${ctx.port}`;
  if (e.code === 'LEADERLINK_AUTH') {
    return new AuthenticationError(`${where} refused this process's proof: it does not share this process's secret (processes of different users need the same \`secret\` option or LEADERLINK_SECRET); ${said}`);
  }
  if (e.code === 'LEADERLINK_NO_CHANNEL') return new ChannelNotFoundError(`${where} has no client of this name; ${said}`);
  return new ProtocolError(`${where} refused the connection; ${said}`);
}
