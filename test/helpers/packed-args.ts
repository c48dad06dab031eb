/**
 * Invoke arguments packed as one Buffer, for tests that write frames by hand. src packs through
 * the client's WireCodec (src/codec/wire-encoding.ts), which may hand back text or byte pieces;
 * a hand-built frame wants the joined bytes, which are the same either way.
 */
import { BytePieces, type AppBytes } from '../../src/codec/byte-parts.js';
import { defaultTranscode, type Transcode } from '../../src/codec/value-format.js';
import { wireCodecFor } from '../../src/codec/wire-encoding.js';

/** All bytes of an application object in one Buffer. */
export const joinedBytes = (app: AppBytes): Buffer => (app instanceof BytePieces ? app.join() : app);

/** `wireCodecFor(transcode).packArgs(args, false)` joined: per argument, u32 BE length + encoded bytes. */
export const packedArgs = (args: readonly unknown[], transcode: Transcode = defaultTranscode): Buffer =>
  joinedBytes(wireCodecFor(transcode).packArgs(args, false));
