import { resolveSecret } from './secret.js';

/** What the handshake needs: the shared secret. Tests pass a plain `{ secret }`. */
export interface SecretSource {
  readonly secret: Buffer;
}

/**
 * The secret of one client, resolved once (on first use) from its options and environment.
 * Created by resolveOptions; only the handshake reads `secret`. Lazy because single mode and
 * option validation need no secret file; memoized so that re-elections do not read the file
 * again. A failed read is not memoized: the next election tries again.
 */
export class Credentials implements SecretSource {
  readonly #option: string | Buffer | undefined;
  readonly #dir: string | undefined;
  readonly #env: NodeJS.ProcessEnv;
  #secret: Buffer | undefined;

  constructor(option: string | Buffer | undefined, secretDir: string | undefined, env: NodeJS.ProcessEnv = process.env) {
    this.#option = option;
    this.#dir = secretDir;
    this.#env = env;
  }

  get secret(): Buffer {
    return (this.#secret ??= resolveSecret(this.#option, this.#dir, this.#env));
  }

  /** Resolves the secret now, so a bad secret file fails the client before it competes for the port. */
  load(): this {
    void this.secret;
    return this;
  }
}
