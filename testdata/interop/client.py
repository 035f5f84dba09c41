# Client on python3-websockets, for the interoperability tests: sends text
# and binary messages of several sizes to the URL (the last argument), checks each
# echo, closes with 1000 and prints "ok" and the negotiated extensions.
import asyncio
import ssl
import sys

import websockets


async def main(url):
    ctx = None
    if url.startswith("wss://"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    compression = "deflate" if "--deflate" in sys.argv else None
    async with websockets.connect(url, ssl=ctx, compression=compression, max_size=None) as ws:
        for n in (0, 1, 125, 126, 65535, 65536, 1 << 20):
            text = "é" * (n // 2)
            await ws.send(text)
            got = await ws.recv()
            assert got == text, f"text echo of {n} differs"
            data = bytes(i % 251 for i in range(n))
            await ws.send(data)
            got = await ws.recv()
            assert got == data, f"binary echo of {n} differs"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        exts = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        await ws.close(1000, "done")
        assert ws.close_code == 1000, ws.close_code
    print("ok", exts)


asyncio.run(main(sys.argv[-1]))
