// An HTTP server run as a pool of workers under pinit. Each worker listens on
// the socket pinit passes as fd 3 (one per worker, all bound to the same port
// with SO_REUSEPORT) and, on SIGTERM, finishes its requests and exits.
'use strict';

const http = require('node:http');

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ worker_id: process.env.WORKER_ID, pid: process.pid }) + '\n');
});

server.listen({ fd: 3 }, () => {
  console.error(`worker ${process.env.WORKER_ID} pid ${process.pid} listening on fd 3`);
});

process.on('SIGTERM', () => {
  // Stop accepting, close idle keep-alive connections, finish the rest.
  server.close(() => process.exit(0));
});
