import { Agent, request } from 'node:http';
const endpoint = process.argv[2]!;
const u = new URL(endpoint);
const agent = new Agent({ keepAlive: true, maxSockets: 32 });
function call(method: string, path: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, agent, headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AK/20260101/eu-west-1/emr-serverless/aws4_request, SignedHeaders=host, Signature=x' } }, (res) => {
      let d = ''; res.on('data', (c) => (d += c)); res.on('end', () => resolve(d));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}
const app = JSON.parse(await call('POST', '/applications', '{"releaseLabel":"emr-7.1.0","type":"SPARK"}'));
const id = app.applicationId;
const N = 20000; let done = 0; const t0 = performance.now();
async function worker() { while (done < N) { done++; await call('GET', `/applications/${id}`); } }
await Promise.all(Array.from({ length: 16 }, worker));
console.log('raw server rps', Math.round(N / ((performance.now() - t0) / 1000)));
agent.destroy();
