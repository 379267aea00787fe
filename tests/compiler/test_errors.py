"""compiler.errors: framework_message, how a framework's exception reads in a user error."""

from __future__ import annotations

from compiler.errors import framework_message

TF_LIKE = """Graph execution error:

Detected at node 'conv' defined at (most recent call last):
  File "/usr/lib/python3/site-packages/keras/engine.py", line 12, in call
    return self.conv(x)
  File "/usr/lib/python3/site-packages/keras/layers.py", line 88, in conv
    y = tf.nn.conv2d(x, w)
Node: 'conv'
input depth must be evenly divisible by filter depth: 3 vs 4
Node: 'conv'
"""


def test_one_paragraph_with_the_key_lines_and_no_stack_frames():
    msg = framework_message(ValueError(TF_LIKE))
    assert "\n" not in msg
    assert msg.startswith("ValueError: Graph execution error: Detected at node 'conv'")
    assert "input depth must be evenly divisible by filter depth: 3 vs 4" in msg
    assert "File " not in msg and "return self.conv" not in msg
    assert msg.count("Node: 'conv'") == 2  # repeats only collapse when adjacent


def test_a_long_message_keeps_head_and_tail():
    text = "head " + "x" * 5000 + " the cause"
    msg = framework_message(RuntimeError(text))
    assert msg.startswith("RuntimeError: head ") and msg.endswith(" the cause")
    assert "characters ...]" in msg and len(msg) < 1700


def test_empty_message():
    assert framework_message(KeyError()) == "KeyError: (no message)"
