package wsjson_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websock/websock"
	"github.com/websock/websock/wsjson"
)

type greeting struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var g greeting
		for wsjson.Read(r.Context(), c, &g) == nil {
			g.N++
			wsjson.Write(r.Context(), c, g)
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(websock.StatusNormalClosure, "")
	wsjson.Write(ctx, c, greeting{Name: "ann", N: 41})
	var g greeting
	err = wsjson.Read(ctx, c, &g)
	fmt.Println(g.Name, g.N, err)
	// Output: ann 42 <nil>
}
