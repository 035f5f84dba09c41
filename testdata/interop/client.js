// Client on Node's ws, for the interoperability tests: sends messages of
// several sizes to the URL (the last argument), checks each echo, closes with 1000
// and prints "ok" and the negotiated extensions.
const WebSocket = require('ws');
const deflate = process.argv.includes('--deflate');
const ws = new WebSocket(process.argv[process.argv.length - 1], { rejectUnauthorized: false, perMessageDeflate: deflate });
const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];
const queue = [];
for (const n of sizes) {
  queue.push({ data: 'é'.repeat(n >> 1), binary: false });
  queue.push({ data: Buffer.from(Array.from({ length: n }, (_, i) => i % 251)), binary: true });
}
let i = 0;
function fail(msg) { console.error(msg); process.exit(1); }
ws.on('open', () => ws.send(queue[0].data, { binary: queue[0].binary }));
ws.on('message', (data, isBinary) => {
  const want = queue[i];
  const got = isBinary ? data : data.toString('utf8');
  if (isBinary !== want.binary || (isBinary ? !data.equals(want.data) : got !== want.data)) fail('echo ' + i + ' differs');
  i++;
  if (i < queue.length) ws.send(queue[i].data, { binary: queue[i].binary });
  else ws.close(1000, 'done');
});
ws.on('close', (code) => {
  if (code !== 1000 || i !== queue.length) fail('closed with ' + code + ' after ' + i + ' echoes');
  console.log('ok', ws.extensions);
});
ws.on('error', (e) => fail(String(e)));
