import type { Socket } from 'node:net';

/** Records every chunk handed to `socket.write` (still writing it), in order. */
export function recordWrites(socket: Socket): Buffer[] {
  const writes: Buffer[] = [];
  const write = socket.write.bind(socket);
  socket.write = ((chunk: Buffer, ...rest: unknown[]) => {
    writes.push(chunk);
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof socket.write;
  return writes;
}
