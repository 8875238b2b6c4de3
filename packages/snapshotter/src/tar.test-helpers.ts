import { Readable } from "node:stream";
import tarStream from "tar-stream";

export type RawEntry = Partial<tarStream.Header> & { name: string; content?: string };

/** Builds a tar in memory exactly as given: no path cleaning, so hostile layers can be made too. */
export async function rawTar(entries: readonly RawEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  for (const { content, ...header } of entries) {
    const type = header.type ?? "file";
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === "file") pack.entry({ mtime: new Date(0), ...header, type }, content ?? "", done);
      else pack.entry({ mtime: new Date(0), ...header, type }, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export const streamOf = (data: Buffer): Readable => Readable.from([data]);
