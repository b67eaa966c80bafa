import { CreateApplicationCommand, EMRServerlessClient, GetApplicationCommand } from '@aws-sdk/client-emr-serverless';
import { Agent } from 'node:http';
const endpoint = process.argv[2]!;
const conc = Number(process.argv[3] ?? 16);
const client = new EMRServerlessClient({ endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) } });
const { applicationId } = await client.send(new CreateApplicationCommand({ releaseLabel: 'emr-7.1.0', type: 'SPARK' }));
for (let round = 0; round < 3; round++) {
  const N = 3000; let done = 0; const t0 = performance.now(); const c0 = process.cpuUsage();
  async function worker() { while (done < N) { done++; await client.send(new GetApplicationCommand({ applicationId })); } }
  await Promise.all(Array.from({ length: conc }, worker));
  const el = performance.now() - t0; const cpu = process.cpuUsage(c0);
  console.log(`conc ${conc}: ${Math.round(N / (el / 1000))} rps, client cpu ${(((cpu.user + cpu.system) / 1000) / el * 100).toFixed(0)}%, cpu/req ${(((cpu.user + cpu.system) / 1000) / N).toFixed(3)} ms`);
}
client.destroy();
