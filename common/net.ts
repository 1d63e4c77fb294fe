import { createServer } from 'node:net';
import { ErrorTypes, MetError } from './errors';

/** A free TCP port on loopback (dev servers, managed inference servers, tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * A failed listen in the user's words: a port in use says how to choose another (a raw EADDRINUSE
 * said nothing of --port 0). `flag` is the option that sets the port. Other errors pass unchanged.
 */
export function listenError(err: unknown, what: string, host: string, port: number, flag = '--port'): unknown {
  if ((err as NodeJS.ErrnoException | undefined)?.code !== 'EADDRINUSE') return err;
  return new MetError(
    ErrorTypes.BadInput,
    `${what} cannot listen on ${host}:${port}: another program already uses that port. Choose another with ${flag} N, or ${flag} 0 to take a free one (the address is printed).`,
  );
}
