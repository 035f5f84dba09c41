package websock_test

import (
	"fmt"

	"github.com/websock/websock"
)

func ExampleStatusCode() {
	err := &websock.CloseError{Code: websock.StatusGoingAway, Reason: "server restart"}
	fmt.Println(err.Code, int(err.Code))
	fmt.Println(websock.StatusCode(4000))
	// Output:
	// going away 1001
	// status 4000
}

// A read loop that logs only the ends it did not expect, as gorilla's
// chat example does.
func ExampleIsUnexpectedCloseError() {
	for _, err := range []error{
		&websock.CloseError{Code: websock.StatusGoingAway},
		&websock.CloseError{Code: websock.StatusPolicyViolation, Reason: "too chatty"},
	} {
		if websock.IsUnexpectedCloseError(err, websock.StatusGoingAway, websock.StatusNormalClosure) {
			fmt.Println("unexpected:", err)
		}
	}
	// Output:
	// unexpected: websock: closed by peer with status 1008: too chatty
}
