# Echo server on python3-websockets, for the interoperability tests.
# Prints the port it listens on, then serves until killed.
import asyncio
import sys

import websockets


async def echo(ws, path=None):
    async for msg in ws:
        await ws.send(msg)


async def main():
    compression = "deflate" if "--deflate" in sys.argv else None
    async with websockets.serve(echo, "127.0.0.1", 0, compression=compression, max_size=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
