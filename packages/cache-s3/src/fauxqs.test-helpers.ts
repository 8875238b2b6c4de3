import { randomBytes } from "node:crypto";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { buildApp } from "fauxqs";

export interface FakeS3 {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** A client for checking what the store wrote. */
  readonly client: S3Client;
  /** Creates a bucket with a fresh random name. */
  bucket(): Promise<string>;
  /** Drops every open connection and stops listening, like a crashed server. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** fauxqs's S3 emulator in this process, listening on 127.0.0.1 only (startFauxqs binds 0.0.0.0). */
export async function startFakeS3(): Promise<FakeS3> {
  const app = buildApp({ logger: false, host: "127.0.0.1" });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  const endpoint = new URL(address).origin;
  const region = "us-east-1";
  const credentials = { accessKeyId: "kiln-test-key", secretAccessKey: "kiln-test-secret-value" };
  const client = new S3Client({ region, endpoint, forcePathStyle: true, credentials });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    client.destroy();
    app.server.closeAllConnections();
    await app.close();
  };
  return {
    endpoint,
    region,
    credentials,
    client,
    async bucket() {
      const name = `kiln-${randomBytes(6).toString("hex")}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    kill: stop,
    stop,
  };
}
