"""Ops of 1-D sequence (audio) models in the TFLite target (a mixin of ``lower._Lowering``).

Contract of :class:`SequenceOps`:

* 1-D ``conv`` (NCL, weight [O, C/group, K]; group 1 or depthwise) -> ``CONV_2D`` /
  ``DEPTHWISE_CONV_2D`` over [N, 1, L, C]: the input is read in order NLC (its stored order
  when the producer is another 1-D conv, else one ``TRANSPOSE``) and a ``RESHAPE`` adds the
  unit H axis; the result is stored in order NLC. Pads equal to TFLite SAME -> ``SAME``,
  other pads -> ``PAD`` + ``VALID``. The fused activation is handled as for 2-D convs.
* ``pow`` with a constant exponent 2 -> ``MUL(x, x)``, 0.5 -> ``SQRT``, 1 -> nothing;
  any other exponent -> ``POW``.

* ``lstm`` (ONNX LSTM, forward direction, ``layout=0``, default activations sigmoid / tanh /
  tanh, no clip, no peepholes, ``input_forget=0``, no ``sequence_lens``, constant W / R / B,
  a static sequence length T) is unrolled into builtin ops: one ``FULLY_CONNECTED`` over
  every time step for ``X W^T + Wb``, then per step ``FULLY_CONNECTED`` for ``H R^T + Rb``,
  ``ADD``, ``SPLIT`` into the gates (ONNX order i, o, f, c), ``LOGISTIC`` / ``TANH``,
  ``MUL`` / ``ADD`` for ``C = f*C + i*c`` and ``H = o*tanh(C)``.
* All three outputs are available: ``Y`` (T, 1, B, H), ``Y_h`` and ``Y_c`` (1, B, H); a
  missing initial state is zeros (then the batch dim must be static).
* Why not ``UNIDIRECTIONAL_SEQUENCE_LSTM``: its state lives in variable tensors and only
  the output sequence comes out, so ``Y_c`` (which streaming models such as silero-vad
  return as their next state) would be lost.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.graph import Node

from . import lower as _low

_DEFAULT_ACTS = ["Sigmoid", "Tanh", "Tanh"]


class SequenceOps:
    """``_conv1d``, ``_op_pow``, ``_op_lstm``; mixed into ``lower._Lowering``."""

    # -- 1-D convolution ---------------------------------------------------------------------
    def _conv1d(self, node: Node, attrs: dict, w: np.ndarray) -> None:
        U = _low._Unsupported
        x, y = node.inputs[0], node.outputs[0]
        n, cin, length = x.type.shape
        out_len = y.type.shape[2]
        if not isinstance(cin, int) or not isinstance(length, int) or \
                not isinstance(out_len, int):
            raise U("1-D conv needs static channel and length dims")
        if (attrs.get("auto_pad") or "NOTSET") not in ("NOTSET", "VALID"):
            raise U(f"auto_pad={attrs.get('auto_pad')!r} is not supported")
        k = w.shape[2]
        stride = int((attrs.get("strides") or [1])[0])
        dil = int((attrs.get("dilations") or [1])[0])
        pads = [int(p) for p in (attrs.get("pads") or [0, 0])]
        if any(p < 0 for p in pads):
            raise U(f"negative pads {pads} are not supported")
        group, o = int(attrs.get("group", 1)), w.shape[0]
        if group == 1:
            opname, wt = "CONV_2D", w.transpose(0, 2, 1)[:, None, :, :]  # O,1,K,C
        elif group == cin and w.shape[1] == 1:
            opname, wt = "DEPTHWISE_CONV_2D", w[:, 0, :].T.reshape(1, 1, k, o)
        else:
            raise U(f"grouped 1-D conv with group={group} is neither plain nor depthwise")
        b = node.input(2)
        bias = np.zeros(o, np.float32) if b is None else self.weight(b, "the conv bias")
        nn = n if isinstance(n, int) else -1
        src4 = self._tmp(x.name + "_n1lc", [n, 1, length, cin])
        self._reshape_known(self.as_perm(x, (0, 2, 1)), src4, [nn, 1, length, cin])
        (sb,), (se,) = _low._same_pads([length], [k], [stride], [dil])
        if not any(pads):
            mode = "VALID"
        elif pads == [sb, se]:
            mode = "SAME"
        else:
            padded = self._tmp(x.name + "_pad", [n, 1, length + sum(pads), cin])
            self.w.add_operator("PAD", [src4, self._i32("paddings",
                                                        [[0, 0], [0, 0], pads, [0, 0]])],
                                [padded])
            src4, mode = padded, "VALID"
        fused, out, post = self._act(y, attrs.get("activation", ""), (0, 2, 1))
        res4 = self._tmp(y.name + "_n1lc", [n, 1, out_len, o])
        common = {"padding": 0 if mode == "SAME" else 1, "strideH": 1, "strideW": stride,
                  "dilationHFactor": 1, "dilationWFactor": dil, "fusedActivationFunction": fused}
        wname = node.inputs[1].name
        if opname == "CONV_2D":
            opts, version = self.w.options("Conv2D", **common), _low.op_version("CONV_2D")
        else:
            opts = self.w.options("DepthwiseConv2D", depthMultiplier=o // cin, **common)
            version = _low.op_version("DEPTHWISE_CONV_2D", dilated=dil != 1)
        ins = [src4, self._float_const(wname + ("_ohwi" if group == 1 else "_1hwc"), wt),
               self._float_const(b.name if b is not None else wname + "_bias",
                                 bias.reshape(-1))]
        self.w.add_operator(opname, ins, [res4], opts, version=version)
        self._reshape_known(res4, out, [nn, out_len, o])
        post()

    # -- pow ---------------------------------------------------------------------------------
    def _op_pow(self, node: Node, attrs: dict) -> None:
        x, e, y = node.inputs[0], node.inputs[1], node.outputs[0]
        c = self._const_array(e) if e.is_const else None
        if c is not None and c.size == 1 and x.type.shape == y.type.shape:
            k = float(c.reshape(()))
            p = self.perm_of(x)
            if k == 1.0:
                self._alias(y, self.get(x), p)
                return
            if k == 2.0:
                src = self.get(x)
                self.w.add_operator("MUL", [src, src], [self._out(y, p)], self.w.options("Mul"))
                return
            if k == 0.5:
                self._unary(node, "SQRT")
                return
        p = self._pick_perm(node.inputs[:2], y.type.rank)
        self.w.add_operator("POW", [self.operand(x, p), self.operand(e, p)], [self._out(y, p)])

    # -- LSTM --------------------------------------------------------------------------------

    def _lstm_checks(self, node: Node, attrs: dict) -> None:
        U = _low._Unsupported
        if (attrs.get("direction") or "forward") != "forward":
            raise U(f"direction={attrs.get('direction')!r}: only forward LSTMs are unrolled")
        acts = attrs.get("activations")
        if acts and [a.lower() for a in acts] != [a.lower() for a in _DEFAULT_ACTS]:
            raise U(f"activations {acts} differ from sigmoid/tanh/tanh")
        if attrs.get("clip") is not None or int(attrs.get("input_forget", 0) or 0) or \
                int(attrs.get("layout", 0) or 0):
            raise U("clip, input_forget and layout=1 are not supported")
        if node.input(4) is not None or node.input(7) is not None:
            raise U("sequence_lens and peepholes are not supported")
        for i, what in ((1, "W"), (2, "R"), (3, "B")):
            v = node.input(i)
            if v is not None and not v.is_const:
                raise U(f"{what} must be a constant")
        t = node.inputs[0].type.shape[0]
        if not isinstance(t, int):
            raise U("the sequence length must be static to unroll the LSTM")

    def _op_lstm(self, node: Node, attrs: dict) -> None:
        self._lstm_checks(node, attrs)
        x = node.inputs[0]
        T, B, _ = x.type.shape
        w = self._const_array(node.inputs[1]).astype(np.float32)[0]  # [4H, I]
        r = self._const_array(node.inputs[2]).astype(np.float32)[0]  # [4H, H]
        hid = r.shape[1]
        b = node.input(3)
        bias = (self._const_array(b).astype(np.float32)[0] if b is not None
                else np.zeros(8 * hid, np.float32))
        n = node.outputs[0].name
        w_idx = self._float_const(n + "_W", w)
        r_idx = self._float_const(n + "_R", r)
        wb = self._float_const(n + "_Wb", bias[:4 * hid])
        rb = self._float_const(n + "_Rb", bias[4 * hid:])
        fc = self.w.options("FullyConnected", keepNumDims=True)
        # X W^T + Wb for every step at once: [T, B, 4H]
        gx = self._tmp(n + "_xw", [T, B, 4 * hid])
        self.w.add_operator("FULLY_CONNECTED", [self.logical(x), w_idx, wb], [gx], fc,
                            version=5)  # keep_num_dims needs version 5 (op_version.cc)
        steps = [self._tmp(f"{n}_xw{t}", [B, 4 * hid]) for t in range(T)]
        if T > 1:
            self.w.add_operator("UNPACK", [gx], steps, self.w.options("Unpack", num=T, axis=0))
        else:
            self._reshape_known(gx, steps[0], [B, 4 * hid])
        h = self._lstm_state(node.input(5), n + "_h0", B, hid)
        c = self._lstm_state(node.input(6), n + "_c0", B, hid)
        hs = []
        split_axis = self._i32(n + "_gate_axis", np.asarray(1, np.int32).reshape(()))
        for t, g_x in enumerate(steps):
            k = f"{n}_t{t}"
            sh = [B, hid]
            gh, gates = self._tmp(k + "_hr", [B, 4 * hid]), self._tmp(k + "_gates", [B, 4 * hid])
            self.w.add_operator("FULLY_CONNECTED", [h, r_idx, rb], [gh],
                                self.w.options("FullyConnected"))
            self.w.add_operator("ADD", [g_x, gh], [gates], self.w.options("Add"))
            raw = [self._tmp(f"{k}_{q}", sh) for q in "iofc"]
            self.w.add_operator("SPLIT", [split_axis, gates], raw,
                                self.w.options("Split", numSplits=4))
            i, o, f, cc = (self._tmp(f"{k}_{q}_act", sh) for q in "iofc")
            for src, dst, op in zip(raw, (i, o, f, cc), ("LOGISTIC",) * 3 + ("TANH",)):
                self.w.add_operator(op, [src], [dst])
            fc_, ic, c_new = (self._tmp(k + q, sh) for q in ("_fc", "_ic", "_c"))
            self.w.add_operator("MUL", [f, c], [fc_], self.w.options("Mul"))
            self.w.add_operator("MUL", [i, cc], [ic], self.w.options("Mul"))
            self.w.add_operator("ADD", [fc_, ic], [c_new], self.w.options("Add"))
            tc, h_new = self._tmp(k + "_tanh_c", sh), self._tmp(k + "_h", sh)
            self.w.add_operator("TANH", [c_new], [tc])
            self.w.add_operator("MUL", [o, tc], [h_new], self.w.options("Mul"))
            h, c = h_new, c_new
            hs.append(h)
        y, y_h, y_c = (list(node.outputs) + [None, None, None])[:3]
        if y is not None and y.has_uses:
            parts = []
            for t, ht in enumerate(hs):
                p = self._tmp(f"{n}_y{t}", [1, 1, B, hid])
                self._reshape_known(ht, p, [1, 1, B, hid])
                parts.append(p)
            if len(parts) == 1:
                self._alias(y, parts[0], tuple(range(4)))
            else:
                self.w.add_operator("CONCATENATION", parts, [self._out(y)],
                                    self.w.options("Concatenation", axis=0))
        for v, last in ((y_h, h), (y_c, c)):
            if v is not None and v.has_uses:
                self._reshape_known(last, self._out(v), [1, B, hid])

    def _lstm_state(self, v, name: str, batch, hid: int) -> int:
        if v is None:
            if not isinstance(batch, int):
                raise _low._Unsupported("a missing initial state needs a static batch dim")
            return self._float_const(name, np.zeros((batch, hid), np.float32))
        out = self._tmp(name, [batch, hid])
        self._reshape_known(self.logical(v), out, [batch, hid])
        return out

    def _reshape_known(self, src: int, dst: int, shape) -> None:
        """RESHAPE ``src`` -> ``dst`` (at most one unknown dim, written as -1)."""
        sig = [d if isinstance(d, int) else -1 for d in shape]
        self.w.add_operator("RESHAPE", [src, self._i32("shape", sig)], [dst],
                            self.w.options("Reshape", newShape=sig))
