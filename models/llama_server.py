"""llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`, same arguments) with
llama.cpp's extra weight buffer types off unless $TINYQA_LLAMA_EXTRA_BUFTS=1.

The extra buffer types are the CPU's AMX tiles and weight repacking. A llama-cpp-python built
natively on an AMX CPU (Sapphire Rapids and later) multiplies with AMX tiles; under a hypervisor
that does not pass AMX state through, the first prompt of more than one token ends the process
with a general-protection fault in `ggml_backend_amx_mul_mat` (seen on this project's VMs). The
embedded model (Q4_1, 135M parameters) gains nothing measurable from them, and its answers are
those of the plain CPU kernels either way (packs/baselines were made so).

Run as `python -m tinyqa.models.llama_server --model FILE ...` (tinyqa.models.local starts it).
"""
from __future__ import annotations

import os


def disable_extra_buffer_types() -> None:
    """Every llama.cpp model loaded after this in the process uses the plain CPU buffers."""
    if os.environ.get("TINYQA_LLAMA_EXTRA_BUFTS") == "1":
        return
    from llama_cpp import llama_cpp as bindings   # the ctypes module llama_cpp.llama reads

    default = bindings.llama_model_default_params
    if getattr(default, "_tinyqa", False):
        return

    def params():
        p = default()
        if hasattr(p, "use_extra_bufts"):   # llama-cpp-python >= 0.3.10
            p.use_extra_bufts = False
        return p

    params._tinyqa = True
    bindings.llama_model_default_params = params


if __name__ == "__main__":
    disable_extra_buffer_types()
    from llama_cpp.server.__main__ import main

    main()
