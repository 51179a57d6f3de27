import type { Metrics, Stream } from '@libp2p/interface'

/** Bytes carried by one family of protocol streams since start */
export interface ProtocolBytes {
  sent: number
  received: number
}

/** The read side of a libp2p message stream: muxers hand it each frame's data */
interface Receiving { onData?: (data: { byteLength: number }) => void }

/** What libp2p's components get back when they register a metric: nothing is kept */
const IGNORED = {
  update: () => {},
  increment: () => {},
  decrement: () => {},
  reset: () => {},
  observe: () => {},
  timer: () => () => {}
}

/**
 * Counts the bytes of the streams of the given protocols, both ways, as libp2p's `metrics`
 * component (libp2p calls `trackProtocolStream` with every stream once its protocol is
 * negotiated); every other metric libp2p's parts register is ignored.
 *
 * Why: Helia's bitswap 4 registers a received-bytes metric it never updates, and libp2p 3.3's
 * stream middleware (`libp2p.use`) appends each inbound handler to the middleware list it keeps,
 * so a middleware cannot be registered safely. Counted is the stream's payload (what bitswap
 * writes and reads: its length-prefixed protobuf messages), not protocol negotiation or muxer
 * and cipher overhead. The receive side wraps the stream's `onData`, which libp2p's muxers call
 * for each frame; a `message` listener would not do: a stream hands its buffered data to
 * whichever listener is there, which would take it from the protocol's own reader.
 */
export class ProtocolByteCounter implements Metrics {
  private readonly counts: ProtocolBytes = { sent: 0, received: 0 }

  constructor (private readonly protocols: string[]) {}

  bytes (): ProtocolBytes {
    return { ...this.counts }
  }

  trackProtocolStream (stream: Stream): void {
    if (!this.protocols.includes(stream.protocol)) return
    const counts = this.counts
    const send = stream.send.bind(stream)
    stream.send = (data) => {
      counts.sent += data.byteLength
      return send(data)
    }
    const receiving = stream as unknown as Receiving
    const onData = receiving.onData?.bind(stream)
    if (onData == null) return
    receiving.onData = (data) => {
      counts.received += data.byteLength
      onData(data)
    }
  }

  trackMultiaddrConnection (): void {}
  registerMetric = ignored
  registerMetricGroup = ignored
  registerCounter = ignored
  registerCounterGroup = ignored
  registerHistogram = ignored
  registerHistogramGroup = ignored
  registerSummary = ignored
  registerSummaryGroup = ignored
  traceFunction<F> (_name: string, fn: F): F { return fn }
  createTrace (): undefined { return undefined }
}

function ignored (): never {
  return IGNORED as never
}
