// Command gobwas is the benchmark echo server on gobwas/ws (no compression).
package main

import (
	"net/http"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/websock/websock/bench/internal/server"
)

func main() {
	server.Run(func(cfg server.Config) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					msg, op, err := wsutil.ReadClientData(c)
					if err != nil {
						return
					}
					if wsutil.WriteServerMessage(c, op, msg) != nil {
						return
					}
				}
			}()
		})
	})
}
