import zlib from 'node:zlib';
import { GateRefusal, INVALID_REQUEST, PARSE_ERROR } from './gate-refusal';

type Decoder = (input: Buffer, options: { maxOutputLength: number }, done: (err: Error | null, out: Buffer) => void) => void;

/** The content codings of RFC 9110 §8.4.1 that node:zlib decodes; x-gzip is gzip (§8.4.1.3). */
const DECODERS: Record<string, Decoder> = {
  gzip: zlib.gunzip,
  'x-gzip': zlib.gunzip,
  deflate: zlib.inflate, // "deflate" is the zlib format (RFC 1950), §8.4.1.2
  br: zlib.brotliDecompress,
};
export const ACCEPTED_CODINGS = 'gzip, deflate, br';
/** More layers than this are no client's doing; each would cost another capped decode. */
const MAX_LAYERS = 2;

/**
 * Undoes a request's Content-Encoding so the gateway reads what the upstream would.
 * The decoded size is capped at `maxDecoded` (zlib stops there, so a small bomb costs
 * no more memory than an honest body): over it is 413. An encoding it cannot undo is
 * 415 with Accept-Encoding (RFC 9110 §15.5.16), a corrupt stream 400.
 */
export async function decodeContentCoding(raw: Buffer, header: string | undefined, maxDecoded: number): Promise<Buffer> {
  // RFC 9110 §8.4: the codings are listed in the order they were applied.
  const codings = (header ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c && c !== 'identity');
  if (codings.length > MAX_LAYERS || codings.some((c) => !DECODERS[c])) {
    throw new GateRefusal(415, INVALID_REQUEST, `unsupported Content-Encoding; send the body as is or with ${ACCEPTED_CODINGS}`, null, { 'Accept-Encoding': ACCEPTED_CODINGS });
  }
  let body = raw;
  for (const coding of codings.reverse()) body = await decode(DECODERS[coding], coding, body, maxDecoded);
  return body;
}

function decode(decoder: Decoder, coding: string, input: Buffer, maxDecoded: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    decoder(input, { maxOutputLength: maxDecoded }, (err, out) => {
      if (!err) return resolve(out);
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') reject(new GateRefusal(413, INVALID_REQUEST, `request body exceeds ${maxDecoded} bytes once decoded`));
      else reject(new GateRefusal(400, PARSE_ERROR, `request body is not valid ${coding} data`));
    }),
  );
}
