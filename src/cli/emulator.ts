// `emr-serverless-operator emulator`: the local EMR Serverless + KMS service.
// The first line of stdout is `endpoint=http://HOST:PORT`; it serves until SIGTERM or SIGINT.
import { parseArgs } from 'node:util';

const usage = `Usage: emr-serverless-operator emulator [flags]

Runs the local EMR Serverless + KMS service (and its control API under /_emulator/).
Prints 'endpoint=http://HOST:PORT' as the first line, then serves until SIGTERM or SIGINT.

Flags:
  --port N             port to listen on (default 0: pick a free one)
  --host HOST          address to listen on (default 127.0.0.1)
  --transition-ms N    how long CREATING/STARTING/STOPPING/CANCELLING last (default 50)
  --idle-minute-ms N   how many ms one minute of autoStop idle timeout lasts (default 60000)
  --job-run-step-ms N  job runs move SUBMITTED -> ... -> SUCCESS by themselves, one state
                       per N ms (default 0: they move only through the control API)
  --account ID         the 12-digit account of the caller (default 123456789012)
  --region REGION      region of unsigned requests (default us-east-1; signed requests
                       use the region of their credential scope)
  --help               show this help`;

function nonNegativeInt(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name} must be a non-negative integer, got '${raw}'`);
  return n;
}

export async function emulatorCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'transition-ms': { type: 'string' },
        'idle-minute-ms': { type: 'string' },
        'job-run-step-ms': { type: 'string' },
        account: { type: 'string' },
        region: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  let opts: Parameters<typeof import('../emulator/index.js').startEmulator>[0];
  try {
    const port = nonNegativeInt('port', values.port as string | undefined);
    if (port !== undefined && port > 65535) throw new Error('--port must be at most 65535');
    const account = values.account as string | undefined;
    if (account !== undefined && !/^[0-9]{12}$/.test(account)) throw new Error('--account must be 12 digits');
    opts = {
      ...(port !== undefined ? { port } : {}),
      ...(values.host ? { host: values.host as string } : {}),
      ...(values['transition-ms'] !== undefined
        ? { transitionMs: nonNegativeInt('transition-ms', values['transition-ms'] as string) }
        : {}),
      ...(values['idle-minute-ms'] !== undefined
        ? { idleMinuteMs: nonNegativeInt('idle-minute-ms', values['idle-minute-ms'] as string) }
        : {}),
      ...(values['job-run-step-ms'] !== undefined
        ? { jobRunStepMs: nonNegativeInt('job-run-step-ms', values['job-run-step-ms'] as string) }
        : {}),
      ...(account ? { accountId: account } : {}),
      ...(values.region ? { defaultRegion: values.region as string } : {}),
    };
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }

  const { startEmulator } = await import('../emulator/index.js');
  const emulator = await startEmulator(opts);
  process.stdout.write(`endpoint=${emulator.endpoint}\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  console.error(`emulator: ${signal}, closing`);
  await emulator.close();
  return 0;
}
