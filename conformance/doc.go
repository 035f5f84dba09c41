// Package conformance is websock's own conformance suite: it reproduces the
// cases of the Autobahn|Testsuite (framing, pings, reserved bits, opcodes,
// fragmentation, UTF-8, closing, limits, compression) against any WebSocket
// server or client and grades them the way Autobahn does.
//
// As a fuzzing client (RunServer) it connects to a server once per case,
// plays the case's frames byte for byte (chopped writes, interleaved pings,
// invalid UTF-8 split across frames, 16 MiB messages) and records what comes
// back. As a fuzzing server (Server) it speaks Autobahn's protocol
// (/getCaseCount, /runCase, /updateReports) to a client driver, and plays
// the same cases with the roles reversed.
//
// The fuzzer has its own frame codec and its own compression (the standard
// library's compress/flate): it shares no protocol code with the library it
// tests. The catalogue of cases (cases.tsv, embedded) gives each case's
// description and the expectations it is graded against.
//
// Grades are Autobahn's, decided as its case classes and protocol decide
// them, so that a report compares line by line with Autobahn's. What
// Autobahn does not check (RFC 7692 negotiation, the opening handshake,
// the closing round trip, message limits) is reported apart as Findings,
// with the probes of Probe.
package conformance
