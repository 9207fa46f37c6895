import Foundation
import SettleCore

/// The page of a cash voucher Settle issued (Efecty under the merchant's agreement), in Spanish, for the buyer to
/// take to a counter or print: the amount as Colombians write it (`$ 150.000 COP`), the agreement and the reference
/// (grouped in fours, as a cashier reads them aloud), the expiry in Colombia's time, a Code 128 barcode drawn by
/// Settle as SVG, and the steps. A test-mode voucher says it must not be paid; a paid or expired one says so instead
/// of asking for payment. It prints on one page (the print style drops everything but the voucher).
enum VoucherPage {
    static let colombia = TimeZone(secondsFromGMT: -5 * 3600)!
    static let months = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"]

    static let style = """
        .voucher dt{font-weight:600}.reference{font-family:ui-monospace,monospace;font-size:1.3rem;letter-spacing:.05em}
        .barcode{margin:1rem 0;background:#fff}.barcode svg{max-width:100%;height:auto}
        ol{padding-left:1.2rem;line-height:1.5}.notice{border-radius:8px;padding:.6rem .8rem;margin:1rem 0}
        .paid{background:#dcfce7;color:#14532d}.expired{background:#fee2e2;color:#7f1d1d}
        @media print{body{background:#fff}main{box-shadow:none;margin:0;max-width:none}.no-print{display:none}}
        """

    /// `$ 150.000 COP`: whole pesos with dots between thousands; centavos after a comma when there are any.
    static func pesos(_ money: Money) -> String {
        let (pesos, centavos) = money.minorUnits.quotientAndRemainder(dividingBy: 100)
        var digits = String(pesos)
        var grouped = ""
        while digits.count > 3 {
            grouped = "." + digits.suffix(3) + grouped
            digits.removeLast(3)
        }
        let fraction = centavos == 0 ? "" : "," + (centavos < 10 ? "0" : "") + String(centavos)
        return "$ \(digits)\(grouped)\(fraction) \(money.currency.code)"
    }

    /// `8 de diciembre de 2026, 23:59 (hora de Colombia)`.
    static func colombianTime(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = colombia
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        let minute = parts.minute ?? 0
        return "\(parts.day ?? 1) de \(months[(parts.month ?? 1) - 1]) de \(parts.year ?? 1970), \(parts.hour ?? 0):\(minute < 10 ? "0" : "")\(minute) (hora de Colombia)"
    }

    /// `7700 1234 5678 9012`.
    static func grouped(_ reference: String) -> String {
        var out = ""
        for (index, character) in reference.enumerated() {
            if index > 0, index % 4 == 0 { out.append(" ") }
            out.append(character)
        }
        return out
    }

    static func render(_ payment: Payment, _ voucher: Voucher, now: Date = Date()) -> String {
        let amount = pesos(payment.amount)
        let expiry = voucher.expiresAt.map(colombianTime) ?? "—"
        let expired = payment.status == .expired || (voucher.expiresAt.map { $0 < now } ?? false && payment.status != .succeeded)
        let test = payment.mode == .test
            ? #"<p class="badge" id="test-mode">PRUEBA — comprobante de prueba: no lo pagues</p>"# : ""
        let status: String
        switch payment.status {
        case .succeeded:
            status = #"<p class="notice paid" id="status" data-status="paid">Pago recibido. ¡Gracias!</p>"#
        case .requiresReview:
            status = #"<p class="notice" id="status" data-status="review">Pago en revisión: el comercio lo está verificando. No pagues de nuevo.</p>"#
        case _ where expired:
            status = #"<p class="notice expired" id="status" data-status="expired">Este comprobante venció el \#(Text.htmlEscaped(expiry)). No lo pagues: pide uno nuevo.</p>"#
        case .requiresAction, .processing:
            status = #"<p class="muted" id="status" data-status="open">Pendiente de pago.</p>"#
        default:
            status = #"<p class="notice expired" id="status" data-status="closed">Este comprobante ya no se puede pagar.</p>"#
        }
        let barcode = voucher.barcode.flatMap { Code128.svg($0, moduleWidth: 2, height: 70) }.map {
            #"<div class="barcode" id="barcode" data-value="\#(Text.htmlEscaped(voucher.barcode ?? ""))">\#($0)</div>"#
        } ?? ""
        let agreement = voucher.agreement ?? ""
        let steps =
            payment.status == .requiresAction && !expired
            ? """
            <h2>Cómo pagar</h2>
            <ol id="steps">
            <li>Acércate a cualquier punto Efecty antes del \(Text.htmlEscaped(expiry)).</li>
            <li>Dile al cajero que vas a pagar el convenio <strong>\(Text.htmlEscaped(agreement))</strong> con la referencia <strong>\(Text.htmlEscaped(grouped(voucher.reference)))</strong>, o muéstrale este código de barras.</li>
            <li>Paga exactamente <strong>\(Text.htmlEscaped(amount))</strong> en efectivo.</li>
            <li>Guarda el recibo que te entrega el cajero. El pago se confirma cuando Efecty lo reporta, normalmente en un día hábil.</li>
            </ol>
            <p class="muted no-print">Para imprimirlo, usa la opción Imprimir de tu navegador.</p>
            """ : ""
        return """
            \(test)
            <h1>Pago en efectivo en Efecty</h1>
            <p class="amount" id="amount">\(Text.htmlEscaped(amount))</p>
            \(status)
            <dl class="voucher">
            <dt>Convenio</dt><dd id="agreement">\(Text.htmlEscaped(agreement))</dd>
            <dt>Referencia</dt><dd class="reference" id="reference" data-value="\(Text.htmlEscaped(voucher.reference))">\(Text.htmlEscaped(grouped(voucher.reference)))</dd>
            <dt>Vence</dt><dd id="expires">\(Text.htmlEscaped(expiry))</dd>
            <dt>Concepto</dt><dd>\(Text.htmlEscaped(payment.description ?? payment.reference))</dd>
            </dl>
            \(barcode)
            \(steps)
            """
    }
}
