// Command gws is the benchmark echo server on lxzan/gws.
package main

import (
	"net/http"

	"github.com/lxzan/gws"
	"github.com/websock/websock/bench/internal/server"
)

type echo struct{ gws.BuiltinEventHandler }

func (echo) OnMessage(c *gws.Conn, m *gws.Message) {
	c.WriteMessage(m.Opcode, m.Bytes())
	m.Close()
}

func main() {
	server.Run(func(cfg server.Config) http.Handler {
		up := gws.NewUpgrader(echo{}, &gws.ServerOption{
			PermessageDeflate: gws.PermessageDeflate{Enabled: cfg.Compress, ServerContextTakeover: cfg.Takeover, ClientContextTakeover: cfg.Takeover,
				// The same 32 KiB windows as the other servers (with takeover, gws would default to 4 KiB).
				ServerMaxWindowBits: 15, ClientMaxWindowBits: 15},
			CheckUtf8Enabled: true,
		})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r)
			if err != nil {
				return
			}
			go c.ReadLoop()
		})
	})
}
