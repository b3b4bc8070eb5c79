"""Import shim: PyPI's torchvision wheel is built against CUDA torch, and with the CPU torch
wheel its compiled ops (nms, roi_align) do not load, so `import torchvision` fails while
registering their meta kernels. The model definitions need none of those ops: registering
nothing lets torchvision import. Import this module before torchvision."""
import sys
import types

sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
