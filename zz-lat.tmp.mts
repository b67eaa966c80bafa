import { Agent, request } from 'node:http';
const u = new URL(process.argv[2]!);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function call(method: string, path: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, agent }, (res) => {
      let d = ''; res.on('data', (c) => (d += c)); res.on('end', () => resolve(d));
    });
    req.on('error', reject); if (body) req.write(body); req.end();
  });
}
const id = JSON.parse(await call('POST', '/applications', '{"releaseLabel":"emr-7.1.0","type":"SPARK"}')).applicationId;
for (let k = 0; k < 3; k++) { const t0 = performance.now(); for (let i = 0; i < 500; i++) await call('GET', `/applications/${id}`); console.log('seq avg ms', ((performance.now() - t0) / 500).toFixed(3)); }
const t1 = performance.now(); for (let i = 0; i < 500; i++) await call('GET', `/_emulator/health`); console.log('health avg ms', ((performance.now() - t1) / 500).toFixed(3));
agent.destroy();
