"""Header shared by the benchmark scripts: versions and CPU."""

import os
import platform


def print_header(title):
    import keras
    import tensorflow as tf

    import kerasplus

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"# {title}")
    print(
        f"# kerasplus {kerasplus.__version__}, keras {keras.__version__}, "
        f"tensorflow {tf.__version__}, python {platform.python_version()}"
    )
    print(f"# cpu: {cpu} x{os.cpu_count()}")
    backend = keras.backend.backend()
    if backend != "tensorflow":
        module = __import__(backend)
        print(f"# backend: {backend} {module.__version__}")
    else:
        print(f"# backend: tensorflow {tf.__version__}")
