"""The local sandbox: real services on loopback for demos, drills and tests.

Practice only. It keeps demo secrets in its own directory, labelled as such.
"""
