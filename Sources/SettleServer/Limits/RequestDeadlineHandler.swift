import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Bounds how long a client may take to send a request, per connection: a new connection must deliver its request
/// head within `readTimeout`, a request's body must be complete within `readTimeout` of its head, and a kept-alive
/// connection must start its next request within `idleTimeout` of the last response. Otherwise the connection is
/// closed: a body or headers that trickle in a byte at a time cannot hold a connection (and its task) open.
/// While Settle works on a request no timer runs.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let readTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(readTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(readTimeout, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(readTimeout, context: context)  // the body (or the end) must follow in time
        case .body: break
        case .end:
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(idleTimeout, context: context) }
        context.write(data, promise: promise)
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            bound.value.close(promise: nil)
        }
    }
}
