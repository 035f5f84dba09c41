package websock_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websock/websock"
)

// Two WebSockets on one HTTP/2 connection (RFC 8441). The process must
// start with GODEBUG=http2xconnect=1 for Go's server to take them; the
// tests of this package do.
func ExampleHTTP2Client() {
	srv := httptest.NewUnstartedServer(websock.Handler(nil, func(ctx context.Context, c *websock.Conn, r *http.Request) {
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			c.Write(ctx, typ, []byte(r.Proto+" "+string(msg)))
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	h2 := &websock.HTTP2Client{TLSConfig: &tls.Config{InsecureSkipVerify: true}} // a test certificate
	defer h2.CloseIdleConnections()
	ctx := context.Background()
	url := "wss" + strings.TrimPrefix(srv.URL, "https")
	for _, text := range []string{"first", "second"} {
		c, _, err := websock.Dial(ctx, url, &websock.DialOptions{HTTP2: h2})
		if err != nil {
			fmt.Println(err)
			return
		}
		c.Write(ctx, websock.TextMessage, []byte(text))
		_, msg, _ := c.Read(ctx)
		fmt.Println(string(msg))
		c.Close(websock.StatusNormalClosure, "")
	}
	// Output:
	// HTTP/2.0 first
	// HTTP/2.0 second
}
