// Echo server on Node's ws, for the interoperability tests. Prints the port
// it listens on, then serves until killed.
const WebSocket = require('ws');
const deflate = process.argv.includes('--deflate');
const wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate, maxPayload: 64 << 20 });
wss.on('listening', () => console.log(wss.address().port));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
