#!/usr/bin/env node
// Tiny network probe run inside a namespace by test/helpers/netns.ts (plain JS so node runs it
// directly there):
//   recv HOST PORT        accept one connection, print {bytes, seconds, mbit} when it ends
//   send HOST PORT MB     send MB MiB of zeros and close
//   connect HOST PORT     print "connected" or the error code (ECONNREFUSED, EHOSTUNREACH, …)
//   get URL               print the HTTP status or the connect error code
//   forward LHOST LPORT THOST:TPORT   relay TCP connections (prints "ready" once listening)
import net from 'node:net'

const [mode, a, b, c] = process.argv.slice(2)

function recv (host, port) {
  const server = net.createServer(sock => {
    let bytes = 0
    let start
    sock.on('data', d => { start ??= performance.now(); bytes += d.length })
    sock.on('end', () => {
      // timed from the first byte: connection setup is not link throughput
      const seconds = (performance.now() - start) / 1000
      console.log(JSON.stringify({ bytes, seconds, mbit: bytes * 8 / seconds / 1e6 }))
      server.close()
    })
  })
  server.listen(port, host, () => { console.log('ready') })
}

function send (host, port, mib) {
  const total = mib * 1024 * 1024
  const chunk = Buffer.alloc(256 * 1024)
  let sent = 0
  const sock = net.connect(port, host, () => {
    const pump = () => {
      while (sent < total) {
        sent += chunk.length
        if (!sock.write(chunk)) { sock.once('drain', pump); return }
      }
      sock.end()
    }
    pump()
  })
  sock.on('error', err => { console.error(err.message); process.exitCode = 1 })
}

function connect (host, port) {
  const sock = net.connect({ host, port, timeout: 3000 })
  sock.once('connect', () => { console.log('connected'); sock.destroy() })
  sock.once('timeout', () => { console.log('ETIMEDOUT'); sock.destroy() })
  sock.once('error', err => { console.log(err.code ?? err.message) })
}

async function get (url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) })
    console.log(String(res.status))
  } catch (err) {
    console.log(err.cause?.code ?? err.name)
  }
}

function forward (host, port, target) {
  const [thost, tport] = target.split(':')
  const server = net.createServer(client => {
    const upstream = net.connect(Number(tport), thost)
    client.pipe(upstream).pipe(client)
    client.on('error', () => { upstream.destroy() })
    upstream.on('error', () => { client.destroy() })
  })
  server.listen(port, host, () => { console.log('ready') })
}

if (mode === 'recv') recv(a, Number(b))
else if (mode === 'send') send(a, Number(b), Number(c))
else if (mode === 'connect') connect(a, Number(b))
else if (mode === 'get') await get(a)
else if (mode === 'forward') forward(a, Number(b), c)
else { console.error(`unknown mode ${mode}`); process.exitCode = 2 }
