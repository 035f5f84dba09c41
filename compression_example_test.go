package websock_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// A server that compresses text harder than the default and sends data
// that is already compressed as it is.
func ExampleConn_WriteUncompressed() {
	deflate := []extension.Extension{&websock.PerMessageDeflate{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, &websock.AcceptOptions{Extensions: deflate})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetCompressionLevel(6)
		c.Write(r.Context(), websock.TextMessage, []byte(strings.Repeat("text compresses well. ", 50)))
		jpeg := []byte{0xff, 0xd8, 0xff, 0xe0} // and so on
		c.WriteUncompressed(r.Context(), websock.BinaryMessage, jpeg)
		c.Close(websock.StatusNormalClosure, "")
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websock.DialOptions{Extensions: deflate})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	for range 2 {
		typ, msg, _ := c.Read(ctx)
		fmt.Println(typ, len(msg))
	}
	// Output:
	// text 1100
	// binary 4
}
