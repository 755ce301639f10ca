/**
 * A wrong-secret flood, in a process of its own so it competes with the measured load for the server, not for the
 * load generator's event loop. Every request carries a fresh well-formed key for one known key_id: the checksum is
 * valid, so nothing short of the failure throttle or bcrypt can reject it.
 * Options as JSON in BENCH_FLOOD; prints `started` when the first requests go out, then the LoadResult as JSON.
 */
import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { formatKey, type KeyEnv } from '../packages/server/src/keys/format.ts';
import { summarize } from './lib/load.ts';

export interface FloodOptions {
  url: string;
  prefix: string;
  env: KeyEnv;
  keyId: string;
  connections: number;
  durationSec: number;
  /** The loopback address the flood connects from (the measured load uses 127.0.0.1). */
  localAddress: string;
}

const options = JSON.parse(process.env.BENCH_FLOOD ?? '{}') as FloodOptions;

// An attacker comes from another host than the partner it targets: autocannon has no option for the source
// address, so its connections are made from `localAddress` here (any 127/8 address is local on Linux).
const connect = net.connect;
(net as { connect: unknown }).connect = (...args: unknown[]) =>
  typeof args[0] === 'object'
    ? (connect as (...a: unknown[]) => net.Socket)(...args)
    : connect({ port: Number(args[0]), host: args[1] as string, localAddress: options.localAddress });
const instance = autocannon(
  {
    url: options.url,
    connections: options.connections,
    duration: options.durationSec,
    requests: [
      {
        setupRequest: (request) => {
          request.headers = { ...request.headers, 'x-api-key': formatKey(options.prefix, options.env, options.keyId, randomBytes(28)) };
          return request;
        },
      },
    ],
  },
  (error, result) => {
    if (error) {
      console.error(error);
      process.exit(1);
    }
    process.stdout.write(`${JSON.stringify(summarize(result))}\n`);
  },
);
instance.once('start', () => process.stdout.write('started\n'));
