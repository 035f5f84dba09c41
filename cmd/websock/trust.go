package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// clientTLS is the TLS configuration of a command that connects to a
// server: the system's roots plus the certificates of caFile (PEM), or no
// verification at all with insecure.
func clientTLS(caFile string, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: insecure}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-ca %s: no PEM certificate in the file", caFile)
	}
	cfg.RootCAs = roots
	return cfg, nil
}

// withHint adds to err what the user can do about it, when that is known:
// for a server certificate that cannot be verified, -insecure or -ca.
func withHint(err error) error {
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) {
		return hintError{err, "the server's certificate is not trusted: -ca FILE trusts the certificate (or CA) in FILE; -insecure accepts any certificate (test servers only)"}
	}
	return err
}

// hintError is an error followed by what to do about it.
type hintError struct {
	err  error
	hint string
}

func (e hintError) Error() string { return e.err.Error() + "\n  hint: " + e.hint }
func (e hintError) Unwrap() error { return e.err }
