"""Reference values for Tests/PareCompressTests/DistillationLossTests.swift, from PyTorch 2.13 (CPU).

Run:  .venv-bench/bin/python Tests/PareCompressTests/Fixtures/distillation_reference.py
(prints the Swift arrays hard-coded in the test). The loss is the seed's:
    alpha * T^2 * F.kl_div(F.log_softmax(s / T), F.softmax(t / T), reduction="batchmean")
        + (1 - alpha) * F.cross_entropy(s, y, label_smoothing=eps)
and the gradient is d loss / d s by autograd. The inputs are exact in f32; PyTorch computes in
float64 here, because in float32 the KL term at T = 20 loses about 5e-6 (relative) to
cancellation (1.5597503 against float64's 1.5597417), and Pare computes it in double.
Every value is printed with 9 significant digits.
"""
import torch
import torch.nn.functional as F

torch.set_printoptions(precision=9)

# Three samples, five classes; the third teacher row is confident, so T matters.
S = [[1.5, -0.5, 0.25, 2.0, -1.0],
     [0.1, 0.2, -0.3, 0.0, 0.4],
     [-2.0, 3.0, 0.5, -0.5, 1.0]]
T_LOGITS = [[2.0, 0.0, -1.0, 1.0, 0.5],
            [-0.5, 1.5, 0.0, 0.25, -1.0],
            [0.0, 8.0, -3.0, 1.0, 2.0]]
Y = [3, 1, 1]
CASES = [(0.5, 20.0, 0.0), (0.9, 4.0, 0.1), (0.0, 2.0, 0.0), (1.0, 1.0, 0.0)]


def f(values):
    return "[" + ", ".join("%.9g" % v for v in values) + "]"


print("// student " + f(sum(S, [])))
print("// teacher " + f(sum(T_LOGITS, [])))
print("// labels", Y)
for alpha, temperature, eps in CASES:
    s = torch.tensor(S, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(T_LOGITS, dtype=torch.float64)
    kd = F.kl_div(F.log_softmax(s / temperature, dim=1), F.softmax(t / temperature, dim=1),
                  reduction="batchmean") * temperature * temperature
    ce = F.cross_entropy(s, torch.tensor(Y), label_smoothing=eps)
    loss = alpha * kd + (1 - alpha) * ce
    loss.backward()
    print(f"    (alpha: {alpha}, temperature: {temperature}, smoothing: {eps}, loss: {loss.item():.9g}, "
          f"distillation: {kd.item():.9g}, crossEntropy: {ce.item():.9g},")
    print(f"     gradient: {f(s.grad.flatten().tolist())}),")

# FitNets hint: weight * F.mse_loss(a, t)
a = torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]], requires_grad=True)
target = torch.tensor([[1.0, -0.5, 1.0], [0.25, 1.0, 0.0]])
hint = 0.7 * F.mse_loss(a, target)
hint.backward()
print(f"// hint loss {hint.item():.9g} gradient {f(a.grad.flatten().tolist())}")
