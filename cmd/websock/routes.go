package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/websock/websock"
)

// Defaults of the backends' flags.
const (
	// defaultExecMax caps the programs -exec runs at once: each is a
	// process (a shell takes about 1 MiB), so far fewer than connections.
	defaultExecMax = 100
	// defaultExecGrace is how long a program has to exit after SIGTERM.
	defaultExecGrace = 5 * time.Second
)

// backendConfig is what the backend flags say: which backend serves /ws
// and /wss, the other routes, and the settings of the exec backend.
type backendConfig struct {
	exec        string   // -exec: command line run for each connection of /ws and /wss
	execBinary  bool     // -exec-binary: raw bytes instead of lines
	proxy       string   // -proxy: tcp://HOST:PORT bridged to /ws and /wss
	static      string   // -static: directory served on the other paths
	routeFlags  []string // -route PATH=BACKEND, in order
	execMax     int      // -exec-max: programs running at once, all routes together
	execGrace   time.Duration
	execHeaders string      // -exec-headers: request headers passed beyond the default ones
	protocols   string      // -exec-protocols: subprotocols exec routes accept
	specs       []routeSpec // made by parse
}

// A routeSpec is one parsed route: a path and what serves it.
type routeSpec struct {
	path   string
	kind   string   // "echo", "exec", "exec-binary" or "proxy"
	argv   []string // exec: program and arguments
	target string   // proxy: HOST:PORT
}

// defaultBackendConfig serves echo on /ws and /wss.
func defaultBackendConfig() backendConfig {
	return backendConfig{execMax: defaultExecMax, execGrace: defaultExecGrace}
}

// register adds the backend flags to fs.
func (b *backendConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&b.exec, "exec", "", "run `COMMAND` (quoted words, no shell) for each connection of /ws and /wss: text messages become lines on its stdin, lines of its stdout text messages")
	fs.BoolVar(&b.execBinary, "exec-binary", false, "with -exec: raw bytes both ways; stdout is sent as binary messages as it arrives")
	fs.StringVar(&b.proxy, "proxy", "", "bridge /ws and /wss to `tcp://HOST:PORT` (websockify): messages become TCP bytes, TCP bytes binary messages")
	fs.StringVar(&b.static, "static", "", "serve the files of `DIR` on every path that is not a WebSocket endpoint (no listings, no dotfiles)")
	fs.Func("route", "serve `PATH=BACKEND` (repeatable); BACKEND is echo, exec:COMMAND, exec-binary:COMMAND or proxy:tcp://HOST:PORT; a PATH ending in / serves the paths below it", func(s string) error {
		b.routeFlags = append(b.routeFlags, s)
		return nil
	})
	fs.IntVar(&b.execMax, "exec-max", b.execMax, "most programs running at once over all exec routes; beyond it connections are closed with 1013 (try again later)")
	fs.DurationVar(&b.execGrace, "exec-grace", b.execGrace, "how long a program has after SIGTERM (its connection ended) before SIGKILL")
	fs.StringVar(&b.execHeaders, "exec-headers", "", "comma-separated request headers passed to programs as HTTP_* besides Origin, User-Agent, Host and Accept-Language (e.g. Cookie,Authorization)")
	fs.StringVar(&b.protocols, "exec-protocols", "", "comma-separated subprotocols exec routes accept, most preferred first (the choice is in WEBSOCKET_PROTOCOL)")
}

// parse checks the backend flags and makes the routes, reporting every
// mistake at once, each naming its flag.
func (b *backendConfig) parse() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("serve: "+format, args...)) }
	def := routeSpec{kind: "echo"}
	switch {
	case b.exec != "" && b.proxy != "":
		bad("-exec and -proxy: choose one backend for /ws and /wss (use -route for more)")
	case b.exec != "":
		kind := "exec"
		if b.execBinary {
			kind = "exec-binary"
		}
		spec, err := parseBackend(kind + ":" + b.exec)
		if err != nil {
			bad("-exec %q: %v", b.exec, err)
		}
		def = spec
	case b.proxy != "":
		spec, err := parseBackend("proxy:" + b.proxy)
		if err != nil {
			bad("-proxy %q: %v", b.proxy, err)
		}
		def = spec
	}
	if b.execBinary && b.exec == "" {
		bad("-exec-binary: needs -exec (routes say exec-binary:COMMAND)")
	}
	if b.execMax < 1 {
		bad("-exec-max %d: must be positive", b.execMax)
	}
	if b.execGrace <= 0 {
		bad("-exec-grace %v: must be positive", b.execGrace)
	}
	for _, h := range splitList(b.execHeaders) {
		if !validHeaderName(h) {
			bad("-exec-headers: %q is not a header name", h)
		}
	}
	for _, p := range splitList(b.protocols) {
		if !validHeaderName(p) { // a subprotocol is an HTTP token, as a header name is
			bad("-exec-protocols: %q is not a subprotocol name (an HTTP token)", p)
		}
	}
	specs := []routeSpec{{path: "/ws"}, {path: "/wss"}}
	for i := range specs {
		path := specs[i].path
		specs[i] = def
		specs[i].path = path
	}
	seen := map[string]bool{}
	for _, f := range b.routeFlags {
		spec, err := parseRoute(f)
		if err != nil {
			bad("-route %q: %v", f, err)
			continue
		}
		if seen[spec.path] {
			bad("-route %q: path %s is routed twice", f, spec.path)
			continue
		}
		seen[spec.path] = true
		replaced := false
		for i := range specs {
			if specs[i].path == spec.path { // -route /ws=... replaces the default
				specs[i], replaced = spec, true
			}
		}
		if !replaced {
			specs = append(specs, spec)
		}
	}
	if b.static != "" {
		if err := checkStaticDir(b.static); err != nil {
			bad("-static %q: %v", b.static, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.specs = specs
	return nil
}

// parseRoute parses PATH=BACKEND.
func parseRoute(s string) (routeSpec, error) {
	path, backend, ok := strings.Cut(s, "=")
	if !ok {
		return routeSpec{}, errors.New("want PATH=BACKEND, e.g. /chat=exec:./chat.sh")
	}
	switch {
	case !strings.HasPrefix(path, "/"):
		return routeSpec{}, fmt.Errorf("path %q must start with /", path)
	case path == "/":
		return routeSpec{}, errors.New("path / is where pages are served; route a path below it")
	case strings.ContainsAny(path, " \t{}?#%") || strings.Contains(path, "//") || strings.Contains(path, "/./") || strings.Contains(path, "/../") || strings.HasSuffix(path, "/.."):
		return routeSpec{}, fmt.Errorf("path %q must be a plain clean path (no spaces, wildcards, queries, escapes or dot segments)", path)
	}
	spec, err := parseBackend(backend)
	spec.path = path
	return spec, err
}

// parseBackend parses echo, exec:COMMAND, exec-binary:COMMAND or
// proxy:tcp://HOST:PORT.
func parseBackend(s string) (routeSpec, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "echo":
		if arg != "" {
			return routeSpec{}, errors.New("echo takes no argument")
		}
		return routeSpec{kind: kind}, nil
	case "exec", "exec-binary":
		argv, err := splitCommand(arg)
		if err != nil {
			return routeSpec{}, err
		}
		return routeSpec{kind: kind, argv: argv}, nil
	case "proxy":
		target, err := parseProxyTarget(arg)
		return routeSpec{kind: kind, target: target}, err
	}
	return routeSpec{}, fmt.Errorf("unknown backend %q (want echo, exec:COMMAND, exec-binary:COMMAND or proxy:tcp://HOST:PORT)", kind)
}

// parseProxyTarget checks tcp://HOST:PORT and returns HOST:PORT.
func parseProxyTarget(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "tcp" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not tcp://HOST:PORT", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("%q lacks a host or a port (want tcp://HOST:PORT)", s)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return "", fmt.Errorf("%q: bad port %q", s, port)
	}
	return u.Host, nil
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x7f || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// routes makes the backends of the parsed routes (echo on /ws and /wss if
// parse was not called). Every exec route shares one count of running
// programs.
func (b *backendConfig) routes(cfg *serveConfig, log *slog.Logger) []route {
	specs := b.specs
	if specs == nil {
		specs = []routeSpec{{path: "/ws", kind: "echo"}, {path: "/wss", kind: "echo"}}
	}
	slots := make(chan struct{}, max(b.execMax, 1))
	routes := make([]route, 0, len(specs))
	for _, spec := range specs {
		var be backend
		switch spec.kind {
		case "echo":
			be = echoBackend{budget: cfg.budget}
		case "exec", "exec-binary":
			be = &execBackend{
				route:        spec.path,
				argv:         spec.argv,
				binary:       spec.kind == "exec-binary",
				readLimit:    cfg.readLimit,
				writeTimeout: cfg.writeTimeout,
				headers:      splitList(b.execHeaders),
				protocols:    splitList(b.protocols),
				grace:        b.execGrace,
				slots:        slots,
				log:          log,
			}
		case "proxy":
			be = &proxyBackend{target: spec.target, dialTimeout: cfg.handshake, writeTimeout: cfg.writeTimeout, log: log}
		}
		routes = append(routes, route{spec.path, be})
	}
	return routes
}

// acceptOptionsFor is how b's route accepts connections: base, with the
// subprotocols b speaks.
func acceptOptionsFor(b backend, base *websock.AcceptOptions) *websock.AcceptOptions {
	sp, ok := b.(interface{ subprotocols() []string })
	if !ok || len(sp.subprotocols()) == 0 {
		return base
	}
	opts := *base
	opts.Subprotocols = sp.subprotocols()
	return &opts
}
