export {
  PROTOCOL_VERSION, HEADER_SIZE, DEFAULT_MAX_FRAME_SIZE, MAX_TYPE_LENGTH, encodeFrame,
  type ConnObject, type Frame, type FrameInput,
} from './frame.js';
export { FrameDecoder, type DecoderOptions } from './decoder.js';
