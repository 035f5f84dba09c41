package extension_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// xorExtension is "x-xor; key=N": messages travel with every payload byte
// xored with N and RSV2 set on their first frame.
type xorExtension struct{ key byte }

func (x xorExtension) Name() string { return "x-xor" }

func (x xorExtension) offer() extension.Offer {
	return extension.Offer{Name: x.Name(), Params: []extension.Param{
		{Name: "key", Value: strconv.Itoa(int(x.key)), HasValue: true},
	}}
}

// keyOf returns the key of an offer or response with exactly one valid
// key parameter.
func keyOf(o extension.Offer) (byte, bool) {
	if len(o.Params) != 1 || o.Params[0].Name != "key" || !o.Params[0].HasValue {
		return 0, false
	}
	k, err := strconv.ParseUint(o.Params[0].Value, 10, 8)
	return byte(k), err == nil
}

// Negotiate accepts the first offer with a valid key and uses that key.
func (x xorExtension) Negotiate(offers []extension.Offer) (extension.Offer, extension.Codec, bool) {
	for _, o := range offers {
		if k, ok := keyOf(o); ok {
			return xorExtension{k}.offer(), xorCodec{k}, true
		}
	}
	return extension.Offer{}, nil, false
}

func (x xorExtension) Offers() []extension.Offer { return []extension.Offer{x.offer()} }

// Accept requires the server to use the offered key.
func (x xorExtension) Accept(response extension.Offer) (extension.Codec, error) {
	if k, ok := keyOf(response); !ok || k != x.key {
		return nil, errors.New("x-xor: response does not match the offer: " + response.String())
	}
	return xorCodec{x.key}, nil
}

type xorCodec struct{ key byte }

const rsv2 = 0x20

func (c xorCodec) ReservedBits() byte { return rsv2 }

func (c xorCodec) NewReader(r io.Reader, rsv byte) io.Reader { return &xorReader{r, c.key} }

func (c xorCodec) NewWriter(w io.Writer, size int) (io.WriteCloser, byte) {
	return &xorWriter{w, c.key}, rsv2
}

func (c xorCodec) Release() {}

type xorReader struct {
	r   io.Reader
	key byte
}

func (x *xorReader) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	for i := range p[:n] {
		p[i] ^= x.key
	}
	return n, err
}

type xorWriter struct {
	w   io.Writer
	key byte
}

func (x *xorWriter) Write(p []byte) (int, error) {
	b := make([]byte, len(p)) // p belongs to the caller: encode a copy
	for i := range p {
		b[i] = p[i] ^ x.key
	}
	return x.w.Write(b)
}

func (x *xorWriter) Close() error { return nil }

// A custom extension negotiated in a real handshake: the client offers
// x-xor with its key, the server accepts it, and the messages of the
// connection travel xored in both directions.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, &websock.AcceptOptions{
			Extensions: []extension.Extension{xorExtension{}},
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		c.Write(r.Context(), typ, []byte("echo: "+string(msg)))
		c.Close(websock.StatusNormalClosure, "")
	}))
	defer srv.Close()

	ctx := context.Background()
	c, resp, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websock.DialOptions{
		Extensions: []extension.Extension{xorExtension{key: 42}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	fmt.Println("negotiated:", resp.Header.Get("Sec-WebSocket-Extensions"))
	c.Write(ctx, websock.TextMessage, []byte("hello"))
	_, msg, err := c.Read(ctx)
	fmt.Printf("%s %v\n", msg, err)
	// Output:
	// negotiated: x-xor; key=42
	// echo: hello <nil>
}
