"""`hashmatch review`: the moderators' desk, a web app each reviewer runs on their own machine (never deployed).

    desk.py       the stack as the desk reaches it with the reviewer's own credentials: its names, the
                  review items, the trail, the pictures, and the collaborators a decision needs
    pictures.py   which of the upload's and the reference's pictures are shown side by side, and the
                  outline of a local-feature match (OpenCV, on the reviewer's machine)
    app.py        the pages (Flask, server-rendered Jinja templates; a little JavaScript for the
                  keyboard and for revealing pictures): the queue, an item, a decision
    server.py     bound to 127.0.0.1 only; `hashmatch review`'s options

The rules (what a decision does, when it is refused, the one-hour target) are the core's
(hashmatch.usecases.review and review_queue); this package shows and wires.
"""
