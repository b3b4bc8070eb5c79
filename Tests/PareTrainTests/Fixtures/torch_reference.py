"""Reference values for Tests/PareTrainTests, from PyTorch 2.13 (CPU).

Run:  python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.13.0
      /tmp/tv/bin/python torch_reference.py   (prints the arrays hard-coded in the tests)
Every number is an f32 printed with 9 significant digits (which identify it exactly).
"""
import torch

torch.set_printoptions(precision=9)


def f(values):
    return "[" + ", ".join("%.9g" % v for v in values) + "]"


P0 = [1.0, -2.0, 0.5, 3.0, -0.25]
# Large first gradients, then small ones, so that amsgrad's running maximum matters.
GRADS = [
    [0.5, -1.5, 2.0, 0.25, -0.75],
    [-0.1, 0.2, -0.05, 0.3, 0.01],
    [0.02, -0.04, 0.06, -0.08, 0.1],
    [0.3, 0.001, -0.2, 0.0, 0.05],
]


def run(name, make):
    p = torch.nn.Parameter(torch.tensor(P0))
    opt = make([p])
    print(f"// {name}")
    for g in GRADS:
        p.grad = torch.tensor(g)
        opt.step()
        print("    " + f(p.detach().tolist()) + ",")
    state = opt.state[p]
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer"):
        if key in state and state[key] is not None:
            print(f"    {key}: " + f(state[key].tolist()))
    if "step" in state:
        print("    step:", float(state["step"]))


run("Adam(lr=0.1)", lambda ps: torch.optim.Adam(ps, lr=0.1))
run("Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)",
    lambda ps: torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True))
run("AdamW(lr=0.1, weight_decay=0.1)", lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1))
run("AdamW(lr=0.01, betas=(0.5, 0.9), amsgrad=True)  # default weight_decay=1e-2",
    lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.5, 0.9), amsgrad=True))
run("Adam(lr=0.1, betas=(0.3, 0.999))  # beta1 < 0.5: the other branch of lerp",
    lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.3, 0.999)))
run("SGD(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)",
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True))


def lrs(name, make_scheduler, steps, lr=0.1):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    scheduler = make_scheduler(opt)
    values = [scheduler.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        scheduler.step()
        values.append(scheduler.get_last_lr()[0])
    print(f"// {name}: lr after 0..{steps} calls of scheduler.step()")
    print("    " + f(values))


S = torch.optim.lr_scheduler
lrs("CosineAnnealingLR(SGD(lr=0.1), T_max=10, eta_min=0.001)", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 25)
lrs("StepLR(SGD(lr=0.1), step_size=3, gamma=0.5)", lambda o: S.StepLR(o, step_size=3, gamma=0.5), 10)
lrs("MultiStepLR(SGD(lr=0.1), milestones=[2, 5, 5, 8], gamma=0.1)", lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 8], gamma=0.1), 10)
lrs("SequentialLR(SGD(lr=0.1), [LinearLR(start_factor=0.1, total_iters=4), CosineAnnealingLR(T_max=6)], milestones=[4])",
    lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=4), S.CosineAnnealingLR(o, T_max=6)], milestones=[4]), 12)
lrs("SequentialLR(SGD(lr=0.1), [LinearLR(total_iters=3), StepLR(step_size=2, gamma=0.5)], milestones=[3])",
    lambda o: S.SequentialLR(o, [S.LinearLR(o, total_iters=3), S.StepLR(o, step_size=2, gamma=0.5)], milestones=[3]), 9)
lrs("OneCycleLR(SGD(lr=0.1), max_lr=0.1, total_steps=20, cycle_momentum=False)",
    lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=20, cycle_momentum=False), 20)
lrs("OneCycleLR(SGD(lr=1), max_lr=1, total_steps=7, pct_start=0.25, div_factor=10, final_div_factor=100, cycle_momentum=False)",
    lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=7, pct_start=0.25, div_factor=10, final_div_factor=100, cycle_momentum=False), 7, lr=1.0)

# clip_grad_norm_ on two gradients.
a = torch.nn.Parameter(torch.zeros(3)); b = torch.nn.Parameter(torch.zeros(2, 2))
a.grad = torch.tensor([0.5, -1.25, 2.0]); b.grad = torch.tensor([[3.0, -0.125], [0.75, 1.5]])
norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
print("// clip_grad_norm_([a, b], max_norm=1.0): total norm, then a.grad, b.grad")
print("    %.9g" % float(norm))
print("    " + f(a.grad.tolist()) + ", " + f(b.grad.flatten().tolist()))
