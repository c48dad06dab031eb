import { channelMessage } from '../errors.js';
import type { RuntimeOptions } from '../options.js';
import type { WireCodec } from '../codec/wire-encoding.js';
import { unencodableIn } from '../codec/value-format.js';
import type { RealClientHost } from './host.js';
import type { Listener, RoleStats, TrafficCounters } from './types.js';

/**
 * The calls of a wrapper whose process owns the real client (the leader, single mode), written
 * once: they go straight to the RealClientHost, no socket, no codec. The leader adds serving its
 * followers on top; single mode adds sharing one host between clients of the same name.
 */
export abstract class InProcessRole {
  protected readonly host: RealClientHost;
  readonly #onError: (err: Error) => void;
  readonly #countInvokes: TrafficCounters | undefined;
  /** Set with option encodeLocalCalls: this wrapper's calls cross the codec as a follower's do. */
  readonly #codec: { readonly name: string; readonly wire: WireCodec } | undefined;

  /**
   * `onError` hears this wrapper's own oneway failures. `countInvokes`, if given, counts this
   * wrapper's invokes and their failures (single mode; a leader counts what it serves followers).
   */
  protected constructor(host: RealClientHost, onError: (err: Error) => void, options: RuntimeOptions, countInvokes?: TrafficCounters) {
    this.host = host;
    this.#onError = onError;
    this.#countInvokes = countInvokes;
    this.#codec = options.encodeLocalCalls ? options : undefined;
  }

  get realClient(): object {
    return this.host.client;
  }

  ready(): Promise<void> {
    return this.host.ready;
  }

  subscribe(key: string, reg: unknown, listener: Listener): void {
    this.host.subscribe(key, reg, listener);
  }

  unSubscribe(key: string, _reg: unknown, listener?: Listener): void {
    this.host.unSubscribe(key, listener);
  }

  publish(reg: unknown): void {
    this.host.publish(reg);
  }

  invoke(method: string, args: unknown[], oneway: boolean): Promise<unknown> {
    const traffic = this.#countInvokes;
    if (traffic) traffic.invokes++;
    const p = this.#codec ? this.#callThroughCodec(this.#codec, method, args) : this.host.call(method, args);
    if (traffic) p.catch(() => void traffic.errors++);
    if (!oneway) return p;
    p.catch(this.#onError);
    return Promise.resolve(undefined);
  }

  /**
   * The call as a follower's would be: arguments encoded and decoded before the real client gets
   * them, its result after, so a one-process dev run sees the values (and CodecErrors) that
   * followers see in production. Listeners already get decoded copies of pushed values.
   */
  #callThroughCodec(codec: { readonly name: string; readonly wire: WireCodec }, method: string, args: unknown[]): Promise<unknown> {
    const context = channelMessage(codec.name, `${method}()`);
    let decoded: unknown[];
    try {
      // The client's own wire codec, as a follower's call crosses (chosen once with the options).
      const packed = args.length === 0 ? undefined : codec.wire.packArgs(args, false);
      decoded = packed === undefined ? args : codec.wire.unpackArgs(Buffer.isBuffer(packed) ? packed : packed.join(), args.length);
    } catch (err) {
      return Promise.reject(unencodableIn(err, context) as Error);
    }
    return this.host.call(method, decoded).then((result) => {
      try {
        return result === undefined ? undefined : codec.wire.transcode.decode(codec.wire.transcode.encode(result));
      } catch (err) {
        throw unencodableIn(err, context, 'result');
      }
    });
  }

  protected subscriptionStats(): RoleStats['subscriptions'] {
    return this.host.hub.snapshot();
  }
}
