import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// PayPal's webhook signature, checked offline: PayPal signs `transmission id|transmission time|webhook id|crc32`
/// (the CRC of the raw body as an unsigned decimal) with RSASSA-PKCS1-v1_5 and SHA-256, under a certificate it names
/// in `PAYPAL-CERT-URL`. That URL comes with the request, so it is the one place an attacker could offer a key of
/// their own: the certificate is fetched only over https from the configured hosts, and used only if it chains to a
/// trusted root, is valid now and names a PayPal host.
enum PayPalSignature {
    enum Failure: String, Error, Sendable {
        case missingHeader = "missing_header"
        case algorithm = "unsupported_algorithm"
        case stale = "stale_transmission"
        case certificateURL = "certificate_url_refused"
        case certificateUnavailable = "certificate_unavailable"
        case certificateUntrusted = "certificate_untrusted"
        case certificateNotPayPal = "certificate_not_paypal"
        case signature = "signature_mismatch"
    }

    /// How far a transmission's time may be from the clock (PayPal retries with new transmissions).
    static let tolerance: TimeInterval = 300

    /// The CRC-32 (IEEE 802.3, as zlib computes it) of `bytes`.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    /// What PayPal signs for one delivery to the webhook `webhookID` (Settle's, never one from the request).
    static func signedString(transmissionID: String, transmissionTime: String, webhookID: String, body: [UInt8]) -> String {
        "\(transmissionID)|\(transmissionTime)|\(webhookID)|\(crc32(body))"
    }

    /// `PAYPAL-TRANSMISSION-TIME`: ISO 8601 in UTC, with or without fractional seconds.
    static func time(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// The certificate URL if it may be fetched: https, no user part, on one of `hosts`.
    static func certificateURL(_ text: String, hosts: Set<String>) -> URL? {
        guard text.utf8.count <= 2048, let url = URL(string: text), url.scheme?.lowercased() == "https", url.user == nil, url.password == nil,
            let host = url.host?.lowercased(), hosts.contains(host)
        else { return nil }
        return url
    }

    /// Whether `signature` (base64) is `key`'s RSASSA-PKCS1-v1_5 SHA-256 signature of `message`.
    static func isValid(signature: String, message: String, key: _RSA.Signing.PublicKey) -> Bool {
        guard let bytes = Data(base64Encoded: signature), !bytes.isEmpty else { return false }
        return key.isValidSignature(
            _RSA.Signing.RSASignature(rawRepresentation: bytes), for: SHA256.hash(data: Array(message.utf8)), padding: .insecurePKCS1v1_5
        )
    }

    /// The signing key of a certificate PEM (the leaf first, then any intermediates), once the leaf chains to one of
    /// `roots`, is valid at `now`, and names a PayPal host (`…paypal.com`).
    static func signingKey(pem: String, roots: [Certificate], now: Date) async throws(Failure) -> (key: _RSA.Signing.PublicKey, notAfter: Date) {
        let certificates: [Certificate]
        do {
            certificates = try PEMDocument.parseMultiple(pemString: pem).filter { $0.discriminator == "CERTIFICATE" }.map { try Certificate(pemDocument: $0) }
        } catch {
            throw .certificateUnavailable
        }
        guard let leaf = certificates.first else { throw .certificateUnavailable }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy(validationTime: now) }
        guard case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(certificates.dropFirst()))) else {
            throw .certificateUntrusted
        }
        guard isPayPal(leaf.subject) else { throw .certificateNotPayPal }
        guard let key = _RSA.Signing.PublicKey(leaf.publicKey) else { throw .certificateUntrusted }
        return (key, leaf.notValidAfter)
    }

    /// Whether a subject's common name is a PayPal host.
    static func isPayPal(_ subject: DistinguishedName) -> Bool {
        for name in subject {
            for attribute in name where attribute.type == .RDNAttributeType.commonName {
                let text = String(describing: attribute.value).lowercased()
                if text == "paypal.com" || text.hasSuffix(".paypal.com") { return true }
            }
        }
        return false
    }

    /// The certificates in a PEM bundle (a CA file, the system's roots); none when it cannot be read.
    static func certificates(inFile path: String) -> [Certificate] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let documents = try? PEMDocument.parseMultiple(pemString: text) else {
            return []
        }
        return documents.filter { $0.discriminator == "CERTIFICATE" }.compactMap { try? Certificate(pemDocument: $0) }
    }

    /// The system's trust roots (Debian's bundle, or Red Hat's).
    static let systemRoots: [Certificate] = {
        for path in ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"] {
            let found = certificates(inFile: path)
            if !found.isEmpty { return found }
        }
        return []
    }()
}
